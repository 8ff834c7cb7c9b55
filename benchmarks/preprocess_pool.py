"""What --preprocess-workers buys: the suite with 0, 1, 2... image-preprocessing processes, interleaved.

A tiny LLaVA-NeXT (any-resolution tiles: the heaviest image processor of the families) answers the
first N real pairs (MEDICONFUSION_SHARED's dataset.json) on placeholder JPEGs at ROCO-like sizes
(512-1400 px), each setting in a fresh pytest process, answer store off, settings interleaved over the
repeats. Printed per setting: answering seconds median [min-max], pairs/s, the ratio to 0 workers, and the
images the pool preprocessed, and the model's load time, which includes starting the pool's
processes. On a GPU host pass ``--device cuda`` and a real checkpoint with ``--model``.

    python benchmarks/preprocess_pool.py                                  # 0 1 2 workers, 60 pairs, greedy
    python benchmarks/preprocess_pool.py --workers 0 4 8 --pairs 176 --model hf:llava-hf/llava-v1.6-mistral-7b-hf \\
        --device cuda --batch-size 1
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
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "benchmarks"))
SHARED = Path(os.environ.get("MEDICONFUSION_SHARED", REPO.parent / "shared" / "mediconfusion"))


def run(model: str, workers: int, args: argparse.Namespace, images: Path, work: Path) -> dict[str, Any]:
    results = work / f"w{workers}"
    command = [
        sys.executable, "-m", "pytest", "--pyargs", "mediconfusion_tests.suite", "-q", "-p", "no:cacheprovider",
        f"--model={model}", f"--mode={args.mode}", f"--dataset={SHARED / 'dataset.json'}", f"--images={images}",
        f"--limit={args.pairs}", "--no-store", f"--preprocess-workers={workers}", f"--device={args.device}",
        f"--batch-size={args.batch_size}", f"--results-dir={results}",
    ]  # fmt: skip
    done = subprocess.run(command, cwd=work, capture_output=True, text=True, check=False)
    runs = sorted(results.glob("*/results.json"), key=lambda p: p.stat().st_mtime)
    if not runs:
        raise SystemExit(f"no results (exit {done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    document = json.loads(runs[-1].read_text())
    if document["counts"]["pairs_scored"] != args.pairs:
        raise SystemExit(f"{document['counts']['pairs_scored']} of {args.pairs} pairs scored:\n{done.stdout[-2000:]}")
    worker = document["timing"]["workers"]["main"]
    return {
        "seconds": worker["answering_s"],
        "load": worker.get("model_load_s") or 0.0,
        "pool": (worker.get("preprocess_pool") or {}).get("images_from_pool", 0),
        "waited": (worker.get("preprocess_pool") or {}).get("images_waited_for", 0),
        "wait_s": (worker.get("preprocess_pool") or {}).get("wait_s", 0.0),
        "decisions": [a["decision"] for p in document["pairs"] for a in p["answers"]],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--pairs", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--mode", default="greedy", choices=["greedy", "prefix", "mc"])
    parser.add_argument("--model", help="--model value (default: a tiny LLaVA-NeXT built here)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", default="auto")
    args = parser.parse_args()

    from vs_harness import placeholder_images

    from mediconfusion_tests.data.sources import load_pairs, resolve_dataset

    work = Path(tempfile.mkdtemp(prefix="mc-preprocess-pool-"))
    every = load_pairs(resolve_dataset(str(SHARED / "dataset.json")))
    placeholder_images(work / "images", every)
    model = args.model
    if model is None:
        from tiny_models import build_tiny

        model = f"hf:{build_tiny('llava-next', work / 'llava-next')}"
    found: dict[int, list[dict[str, Any]]] = {w: [] for w in args.workers}
    for _ in range(args.repeat):
        for workers in args.workers:  # interleaved, so drift hits every setting alike
            found[workers].append(run(model, workers, args, work / "images", work))
    reference = found[args.workers[0]][0]["decisions"]
    same = all(r["decisions"] == reference for runs in found.values() for r in runs)
    print(
        f"{args.pairs} real pairs on placeholder JPEGs 512-1400 px, {args.mode}, batch {args.batch_size}, {model}, "
        f"{args.device}; {os.cpu_count()} cores; {args.repeat} interleaved repeat(s); answering seconds, "
        f"median [min-max]; decisions identical in every run: {same}"
    )
    base = statistics.median(r["seconds"] for r in found[args.workers[0]])
    for workers, runs in found.items():
        seconds = [r["seconds"] for r in runs]
        median = statistics.median(seconds)
        print(
            f"--preprocess-workers {workers:>2}: {median:7.2f} s [{min(seconds):.2f}-{max(seconds):.2f}]"
            f"  {args.pairs / median:6.2f} pairs/s  x{base / median:4.2f}  images from the pool {runs[0]['pool']}"
            f" (waited for {statistics.median(r['waited'] for r in runs):.0f}, "
            f"{statistics.median(r['wait_s'] for r in runs):.2f} s)"
            f"  model load (pool start included) {statistics.median(r['load'] for r in runs):.2f} s"
        )


if __name__ == "__main__":
    main()
