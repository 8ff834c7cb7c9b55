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

With ``--url`` no stand-in is started and the named server is measured instead.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))


def run_suite(url: str, model: str, concurrency: int, workdir: Path) -> float:
    """Seconds the model spent answering (the suite's own timing), in a fresh pytest process."""
    results = workdir / f"c{concurrency}"
    command = [
        sys.executable, "-m", "pytest", "--pyargs", "mediconfusion_tests.suite", "-q", "-p", "no:cacheprovider",
        f"--model=openai-compatible:{model}@{url}", "--dataset=sample", "--no-store",
        f"--concurrency={concurrency}", f"--results-dir={results}",
    ]  # fmt: skip
    env = {**os.environ, "OPENAI_API_KEY": os.environ.get("OPENAI_API_KEY", "unused")}
    done = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True, check=False)
    runs = sorted(results.glob("*/results.json"))
    if not runs:
        raise SystemExit(f"the suite wrote no results (exit {done.returncode}):\n{done.stdout[-2000:]}{done.stderr}")
    document = json.loads(runs[-1].read_text())
    if document["counts"]["pairs_scored"] != 16:
        raise SystemExit(f"only {document['counts']['pairs_scored']} of 16 pairs scored:\n{done.stdout[-2000:]}")
    return max(w["answering_s"] for w in document["timing"]["workers"].values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay", type=float, default=0.2, help="stand-in's seconds per request (default 0.2)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--url", help="measure this OpenAI-compatible server instead of the stand-in")
    parser.add_argument("--model", default="stand-in", help="the served model's name (with --url)")
    args = parser.parse_args()

    stand_in = None
    url = args.url
    if url is None:
        from fake_api import FakeAPI, ScriptedResponder

        stand_in = FakeAPI(ScriptedResponder("A")).__enter__()
        stand_in.delay = args.delay
        url = stand_in.url + "/v1"
    try:
        with tempfile.TemporaryDirectory(prefix="mc-concurrency-") as folder:
            times: dict[int, list[float]] = {c: [] for c in args.concurrency}
            in_flight: dict[int, int] = {}
            for _ in range(args.repeat):
                for concurrency in args.concurrency:  # interleaved, so drift hits every setting alike
                    if stand_in is not None:
                        stand_in.max_in_flight = 0
                    times[concurrency].append(run_suite(url, args.model, concurrency, Path(folder)))
                    if stand_in is not None:
                        in_flight[concurrency] = max(in_flight.get(concurrency, 0), stand_in.max_in_flight)
    finally:
        if stand_in is not None:
            stand_in.__exit__(None, None, None)
    where = f"stand-in, {args.delay:.2f} s per request" if args.url is None else args.url
    print(f"sample benchmark: 16 pairs, 32 requests; {where}; {args.repeat} repeat(s), median [min-max]")
    base = statistics.median(times[args.concurrency[0]])
    for concurrency, samples in times.items():
        median = statistics.median(samples)
        seen = f"  in flight at most {in_flight[concurrency]}" if concurrency in in_flight else ""
        print(
            f"--concurrency {concurrency:>3}: {median:6.2f} s [{min(samples):.2f}-{max(samples):.2f}]"
            f"  {32 / median:6.1f} requests/s  speed-up x{base / median:5.2f}{seen}"
        )


if __name__ == "__main__":
    main()
