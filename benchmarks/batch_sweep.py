"""The suite's adapter at several batch sizes, in process, on vs_harness.py's tiny checkpoints and images.

Shows how much batching itself buys on this machine (on a 2-core CPU: little, the forward's cost grows
with the tokens), which is what bounds suite/harness once both run the same per-image preprocessing.

    python benchmarks/vs_harness.py --work /tmp/vswork --breakdown --repeat 1   # builds checkpoints and images
    python benchmarks/batch_sweep.py --work /tmp/vswork --family llava --mode greedy --pairs 40 --batches 1 4 16
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from vs_harness import PROMPT_KEYS, SHARED


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True, help="the --work folder of vs_harness.py")
    parser.add_argument("--family", default="llava", choices=sorted(PROMPT_KEYS))
    parser.add_argument("--mode", default="greedy", choices=["greedy", "prefix"])
    parser.add_argument("--pairs", type=int, default=40)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()

    from mediconfusion_tests.data.images import LOCAL, ImageLayout
    from mediconfusion_tests.data.sources import load_pairs, resolve_dataset
    from mediconfusion_tests.models.hf import HFModel
    from mediconfusion_tests.models.hf_loading import LoadSettings
    from mediconfusion_tests.prompts import prompt_set
    from mediconfusion_tests.run.engine import Engine

    pairs = load_pairs(resolve_dataset(str(SHARED / "dataset.json")))[: args.pairs]
    model = HFModel(LoadSettings(str(args.work / f"tiny-{args.family}")), name=args.family)
    prompts = prompt_set(str(SHARED / "paper_prompts.json"), PROMPT_KEYS[args.family])
    layout = ImageLayout(LOCAL, str(args.work / "images"))
    rates: dict[int, list[float]] = {size: [] for size in args.batches}
    for _ in range(args.repeat):  # interleaved, so drift hits every size alike
        for size in args.batches:
            engine = Engine(
                model, args.mode, prompts, layout, None, batch_size=size, schedule=pairs, chunk_of=lambda _: 0
            )
            started = time.perf_counter()
            for pair in pairs:
                engine.run_pair(pair)
            rates[size].append(len(pairs) / (time.perf_counter() - started))
    for size, values in rates.items():
        print(f"{args.family} {args.mode} batch {size:3}: {statistics.median(values):6.2f} pairs/s "
              f"[{min(values):.2f}-{max(values):.2f}]")  # fmt: skip


if __name__ == "__main__":
    main()
