"""Opt-in: the suite against a real vLLM OpenAI server (``vllm`` marker), skipped where vLLM is not installed.

Starts ``python -m vllm.entrypoints.openai.api_server`` on 127.0.0.1 with the demo
model (a tiny LLaVA) and runs the suite through ``openai-compatible:`` in mc,
greedy and prefix. Set MEDICONFUSION_VLLM_PYTHON to the interpreter of a
virtual environment that has vLLM, if it is not this one. What it showed here:
docs/scale-out.md.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from helpers import read_results

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.vllm
PYTHON = os.environ.get("MEDICONFUSION_VLLM_PYTHON", sys.executable)
STARTUP_S = 600


def vllm_available() -> bool:
    probe = subprocess.run([PYTHON, "-c", "import vllm"], capture_output=True, timeout=300, check=False)
    return probe.returncode == 0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if (shutil.which(PYTHON) is None and not Path(PYTHON).exists()) or not vllm_available():
        pytest.skip("vLLM is not installed (set MEDICONFUSION_VLLM_PYTHON to a Python that has it)")
    from mediconfusion_tests.models.demo import demo_checkpoint

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = tmp_path_factory.mktemp("vllm") / "server.log"
    command = [
        PYTHON,
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        demo_checkpoint(),
        "--served-model-name",
        "demo",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--dtype",
        "float32",
        "--max-model-len",
        "1024",
        "--max-logprobs",
        "20",
    ]
    with log.open("w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_S
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"vLLM exited with {process.returncode}: {log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{url}/v1/models", timeout=5):
                    break
            except OSError:
                time.sleep(2)
        else:
            pytest.fail(f"vLLM did not answer within {STARTUP_S} s: {log.read_text()[-3000:]}")
        yield f"{url}/v1"
    finally:
        process.terminate()
        process.wait(timeout=60)


@pytest.mark.parametrize("mode", ["mc", "greedy", "prefix"])
def test_the_suite_runs_against_a_real_vllm_server(server: str, pytester: pytest.Pytester, mode: str) -> None:
    result = pytester.runpytest_subprocess(
        f"--model=openai-compatible:demo@{server}",
        f"--mode={mode}",
        "--dataset=sample",
        "--no-store",
        "--concurrency=8",
        "-p",
        "no:cacheprovider",
    )
    results = read_results(pytester.path)
    assert results["counts"]["pairs_scored"] == 16, result.stdout.str()[-3000:]
    assert not results["problems"]
