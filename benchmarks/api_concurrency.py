"""What ``--concurrency`` buys against a server with real latency: the suite through the OpenAI SDK.

A stand-in OpenAI-compatible server (tests/fake_api.py, real HTTP on 127.0.0.1)
answers every request after a fixed delay, like a remote API or a busy vLLM
replica; the suite runs the sample benchmark (16 pairs, 32 requests) through
``openai-compatible:`` at several ``--concurrency`` values, each in a fresh
process, answer store off. Printed: wall time of answering per setting (median
and spread of the repeats), the speed-up over ``--concurrency 1`` measured in
this run, and the most requests the server saw in flight.

    python benchmarks/api_concurrency.py                      # delay 0.2 s, concurrency 1 4 16, 3 repeats
    python benchmarks/api_concurrency.py --delay 0.5 --concurrency 1 8 32 --repeat 5
    python benchmarks/api_concurrency.py --url http://gpu-box:8000/v1 --model my-model   # a real server
    . scripts/vllm-env.sh && python benchmarks/api_concurrency.py --vllm --pairs 176 --mode greedy \
        --concurrency 1 2 4 8 16 --repeat 3                     # a real vLLM server started here

With ``--url`` no stand-in is started and the named server is measured instead. With ``--vllm`` a real
vLLM server (MEDICONFUSION_VLLM_PYTHON) serves the demo model's weights on 127.0.0.1 for the run.
``--pairs N`` runs the first N real pairs (MEDICONFUSION_SHARED's dataset.json) on placeholder JPEGs at
ROCO-like sizes instead of the sample benchmark.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "benchmarks"))
SHARED = Path(os.environ.get("MEDICONFUSION_SHARED", REPO.parent / "shared" / "mediconfusion"))


@dataclass(frozen=True)
class Workload:
    """What the suite is run on: the sample benchmark, or the first N real pairs on placeholder images."""

    data: tuple[str, ...] = ("--dataset=sample",)
    pairs: int = 16
    mode: str = "mc"

    @property
    def requests(self) -> int:
        per_image = 3 if self.mode == "prefix" else 1  # prefix: the prompt alone, then each option
        return 2 * self.pairs * per_image


def real_pairs(count: int, folder: Path) -> tuple[str, ...]:
    from vs_harness import placeholder_images

    from mediconfusion_tests.data.sources import load_pairs, resolve_dataset

    every = load_pairs(resolve_dataset(str(SHARED / "dataset.json")))
    placeholder_images(folder / "images", every)  # the suite checks every image of the dataset before it starts
    return (f"--dataset={SHARED / 'dataset.json'}", f"--images={folder / 'images'}", f"--limit={count}")


def run_suite(url: str, model: str, concurrency: int, workdir: Path, workload: Workload) -> float:
    """Seconds the model spent answering (the suite's own timing), in a fresh pytest process."""
    results = workdir / f"c{concurrency}"
    reading = ("--prefix-tokens=context",) if workload.mode == "prefix" else ()
    command = [
        sys.executable, "-m", "pytest", "--pyargs", "mediconfusion_tests.suite", "-q", "-p", "no:cacheprovider",
        f"--model=openai-compatible:{model}@{url}", *workload.data, "--no-store", f"--mode={workload.mode}",
        *reading, f"--concurrency={concurrency}", f"--results-dir={results}",
    ]  # fmt: skip
    env = {**os.environ, "OPENAI_API_KEY": os.environ.get("OPENAI_API_KEY", "unused")}
    done = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True, check=False)
    runs = sorted(results.glob("*/results.json"), key=lambda p: p.stat().st_mtime)
    if not runs:
        raise SystemExit(f"the suite wrote no results (exit {done.returncode}):\n{done.stdout[-2000:]}{done.stderr}")
    document = json.loads(runs[-1].read_text())
    if document["counts"]["pairs_scored"] != workload.pairs:
        scored = document["counts"]["pairs_scored"]
        raise SystemExit(f"only {scored} of {workload.pairs} pairs scored:\n{done.stdout[-2000:]}")
    return max(w["answering_s"] for w in document["timing"]["workers"].values())


@contextmanager
def demo_on_vllm(folder: Path) -> Iterator[str]:
    """The demo model's weights served by a real vLLM server on 127.0.0.1 (its /v1 URL)."""
    from vllm_server import vllm_problem, vllm_server

    from mediconfusion_tests.models.demo import demo_checkpoint
    from mediconfusion_tests.models.hub_layout import write_hub_layout

    problem = vllm_problem()
    if problem:
        raise SystemExit(f"{problem}; run `. scripts/vllm-env.sh` first")
    served = write_hub_layout(demo_checkpoint(), folder / "demo-hub-layout")
    with vllm_server(served, folder / "server.log") as (url, waited):
        print(f"vLLM serving the demo at {url} (answered after {waited:.0f} s)", flush=True)
        yield url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay", type=float, default=0.2, help="stand-in's seconds per request (default 0.2)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--url", help="measure this OpenAI-compatible server instead of the stand-in")
    parser.add_argument("--model", default="stand-in", help="the served model's name (with --url)")
    parser.add_argument("--vllm", action="store_true", help="start a real vLLM server with the demo model")
    parser.add_argument("--pairs", type=int, help="the first N real pairs on placeholder images (default: sample)")
    parser.add_argument("--mode", default="mc", choices=["mc", "greedy", "prefix"])
    args = parser.parse_args()

    stand_in = None
    url, model = args.url, args.model
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="mc-concurrency-") as folder:
        workload = Workload(mode=args.mode)
        if args.pairs:
            workload = Workload(real_pairs(args.pairs, Path(folder)), args.pairs, args.mode)
        if args.vllm:
            url, model = stack.enter_context(demo_on_vllm(Path(folder))), "demo"
        elif url is None:
            from fake_api import FakeAPI, ScriptedResponder

            stand_in = stack.enter_context(FakeAPI(ScriptedResponder("A")))
            stand_in.delay = args.delay
            url = stand_in.url + "/v1"
        times: dict[int, list[float]] = {c: [] for c in args.concurrency}
        in_flight: dict[int, int] = {}
        for _ in range(args.repeat):
            for concurrency in args.concurrency:  # interleaved, so drift hits every setting alike
                if stand_in is not None:
                    stand_in.max_in_flight = 0
                times[concurrency].append(run_suite(url, model, concurrency, Path(folder), workload))
                if stand_in is not None:
                    in_flight[concurrency] = max(in_flight.get(concurrency, 0), stand_in.max_in_flight)
    where = f"stand-in, {args.delay:.2f} s per request" if stand_in is not None else f"{model} at {url}"
    data = f"{workload.pairs} real pairs on placeholder JPEGs" if args.pairs else "sample benchmark: 16 pairs"
    print(
        f"{data}, mode {workload.mode}, {workload.requests} requests; {where}; {os.cpu_count()} cores; "
        f"{args.repeat} interleaved repeat(s), median [min-max]"
    )
    base = statistics.median(times[args.concurrency[0]])
    for concurrency, samples in times.items():
        median = statistics.median(samples)
        seen = f"  in flight at most {in_flight[concurrency]}" if concurrency in in_flight else ""
        print(
            f"--concurrency {concurrency:>3}: {median:6.2f} s [{min(samples):.2f}-{max(samples):.2f}]"
            f"  {workload.pairs / median:6.1f} pairs/s  {workload.requests / median:6.1f} requests/s"
            f"  speed-up x{base / median:5.2f}{seen}"
        )


if __name__ == "__main__":
    main()
