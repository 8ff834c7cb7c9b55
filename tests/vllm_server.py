"""Start and stop a real vLLM OpenAI server on 127.0.0.1 (tests/acceptance/test_vllm_server.py, benchmarks).

vLLM lives in an environment of its own (``. scripts/vllm-env.sh`` builds it and sets
MEDICONFUSION_VLLM_PYTHON). The server runs in a process group of its own, so stopping it
stops the engine processes it started as well.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

PYTHON = os.environ.get("MEDICONFUSION_VLLM_PYTHON", sys.executable)
#: vLLM on a CPU, where scripts/vllm-env.sh has not set these (it sets the same values): a 1 GiB KV cache
#: (without one vLLM wants 92% of memory and refuses a 24 GB machine), threads not pinned to cores.
VLLM_ENV = {"VLLM_TARGET_DEVICE": "cpu", "VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_CPU_OMP_THREADS_BIND": "nobind"}


class ServerFailed(RuntimeError):
    """The server exited or did not answer in time; the message ends with its log's tail."""


def import_problem(python: str, statement: str, what: str) -> str | None:
    """Why ``statement`` (imports) fails under the interpreter ``python``, naming ``what`` it is for; or None.
    torchvision's nms operator is the check that its build matches torch's."""
    if not python or not Path(python).exists():
        return f"{python or 'no interpreter given'} does not exist"
    probe = subprocess.run([python, "-c", statement], capture_output=True, text=True, timeout=300, check=False)
    if probe.returncode:
        return f"{what} does not import in {python}: {probe.stderr.strip().splitlines()[-1:]}"
    return None


def vllm_problem(python: str = PYTHON) -> str | None:
    """Why vLLM cannot run from ``python``, or None."""
    return import_problem(python, "import vllm, torchvision, torch; torch.ops.torchvision.nms", "vLLM")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the server's process group, SIGKILL after 60 s."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


@contextmanager
def vllm_server(
    checkpoint: Path, log: Path, *, name: str = "demo", startup_s: float = 420, python: str = PYTHON
) -> Iterator[tuple[str, float]]:
    """(the server's /v1 URL, seconds it took to answer) while it runs; stopped on the way out."""
    port = free_port()
    command = [python, "-m", "vllm.entrypoints.openai.api_server", "--model", str(checkpoint)]
    command += ["--served-model-name", name, "--host", "127.0.0.1", "--port", str(port)]
    command += ["--dtype", "float32", "--max-model-len", "1024", "--max-logprobs", "20"]
    environment = {**VLLM_ENV, **os.environ, "HF_HUB_OFFLINE": "1"}
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env=environment, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        started = time.monotonic()
        while True:
            if process.poll() is not None:
                raise ServerFailed(f"vLLM exited with {process.returncode}: {log.read_text(errors='replace')[-3000:]}")
            if time.monotonic() - started > startup_s:
                raise ServerFailed(
                    f"vLLM did not answer within {startup_s} s: {log.read_text(errors='replace')[-3000:]}"
                )
            try:
                with urllib.request.urlopen(f"{url}/v1/models", timeout=5):
                    break
            except OSError:
                time.sleep(2)
        yield f"{url}/v1", time.monotonic() - started
    finally:
        stop(process)
