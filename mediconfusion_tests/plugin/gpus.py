"""One model per GPU: which GPU each xdist worker gets, decided before torch initialises."""

from __future__ import annotations

import os
import re
import shutil
import subprocess


def visible_gpus() -> list[str]:
    """GPU ids from CUDA_VISIBLE_DEVICES, else from nvidia-smi; empty without GPUs."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [g.strip() for g in env.split(",") if g.strip() and g.strip() != "-1"]
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    try:
        result = subprocess.run(  # noqa: S603 - a fixed argument list, no shell
            [smi, "--query-gpu=index", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=15,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return []
    if result.returncode != 0:
        return []
    return [line.strip() for line in result.stdout.splitlines() if line.strip().isdigit()]


def gpus_for_worker(worker_id: str, gpus: list[str], per_worker: int = 1) -> str | None:
    """CUDA_VISIBLE_DEVICES for a worker: gw0 the first K GPUs, gw1 the next K, wrapping round."""
    match = re.fullmatch(r"gw(\d+)", worker_id)
    if not gpus or match is None:
        return None
    count = min(per_worker, len(gpus))
    start = (int(match.group(1)) * count) % len(gpus)
    return ",".join(gpus[(start + offset) % len(gpus)] for offset in range(count))


#: Thread-count variables of the math libraries torch uses; a worker sets each one the user did not.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def threads_for_worker(workers: int, cores: int, requested: int | None) -> int:
    """Each xdist worker's share of the CPU cores (at least one): without it, every worker starts
    torch's default of one thread per core, and N workers oversubscribe the cores N times."""
    if requested:
        return requested
    return max(1, cores // max(1, workers))
