"""PIL against torchvision image processors, family by family: same pixels? milliseconds per image?

Runs tests/image_backend_probe.py (the preset checkpoints' processor settings, seeded ROCO-like JPEGs, both
backends interleaved) under a Python that has torchvision: --python, else MEDICONFUSION_TORCHVISION_PYTHON,
else MEDICONFUSION_VLLM_PYTHON (``. scripts/vllm-env.sh`` builds that environment; the main environment of a
CPU-only machine cannot import torchvision beside its CPU torch). ``--transformers DIR`` puts another
transformers release first on that Python's path (``pip install --target DIR --no-deps transformers==X``),
to measure the release the main environment runs.

    . scripts/vllm-env.sh && python benchmarks/image_backends.py --threads 1 2
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--python",
        default=os.environ.get("MEDICONFUSION_TORCHVISION_PYTHON") or os.environ.get("MEDICONFUSION_VLLM_PYTHON"),
    )
    parser.add_argument("--transformers", help="a folder holding another transformers release")
    parser.add_argument("--threads", type=int, nargs="+", default=[1])
    parser.add_argument("--images", type=int, default=24)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if not args.python:
        raise SystemExit("no Python with torchvision: pass --python, or `. scripts/vllm-env.sh` first")
    env = dict(os.environ)
    if args.transformers:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [args.transformers, env.get("PYTHONPATH")]))
    for threads in args.threads:
        command = [
            args.python, str(REPO / "tests" / "image_backend_probe.py"), "--threads", str(threads),
            "--images", str(args.images), "--repeat", str(args.repeat),
        ]  # fmt: skip
        done = subprocess.run(command, env=env, text=True, capture_output=True, check=False)
        if done.returncode:
            raise SystemExit(done.stderr[-3000:])
        sys.stdout.write(done.stdout)


if __name__ == "__main__":
    main()
