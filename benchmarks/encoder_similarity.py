"""What --encoder-similarity costs a run: the demo model on the sample's 16 pairs, with and without it.

Both sides answer the same pairs through the same Engine in this process, alternating, each repeat with a
fresh engine and no answer store (so every answer is computed); the meter encodes each image once more with
the model's own vision tower. A third side measures a rerun whose vectors all come from the embedding cache.

    python benchmarks/encoder_similarity.py --mode mc --repeat 5

Prints seconds per run (median and range) and the ratio to the run without the meter.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", default="mc", choices=("mc", "greedy", "prefix"))
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    from mediconfusion_tests.config import RunConfig
    from mediconfusion_tests.data.files import read_pairs
    from mediconfusion_tests.data.images import LOCAL, ImageLayout
    from mediconfusion_tests.models.base import LocalModel, ModelSpec
    from mediconfusion_tests.models.demo import make_demo
    from mediconfusion_tests.prompts import BUILTIN
    from mediconfusion_tests.run.engine import Engine
    from mediconfusion_tests.run.similarity import SimilarityMeter
    from mediconfusion_tests.sample.benchmark import sample_folder
    from mediconfusion_tests.sample.build_cache import cache_root

    folder = sample_folder(cache_root())
    pairs = read_pairs(folder / "dataset.json")
    layout = ImageLayout(LOCAL, str(folder / "images"))
    model = make_demo(ModelSpec("demo", "demo"), RunConfig(model="demo", device="cpu"))
    assert isinstance(model, LocalModel)
    pooling = model.image_feature_pooling() or ""

    def run(meter: SimilarityMeter | None) -> float:
        engine = Engine(model, args.mode, BUILTIN, layout, None, schedule=pairs, chunk_of=lambda _: 0, similarity=meter)
        started = time.perf_counter()
        outcomes = [engine.run_pair(pair) for pair in pairs]
        seconds = time.perf_counter() - started
        assert all(o.error is None for o in outcomes)
        assert (meter is None) == all(o.similarity is None for o in outcomes)
        return seconds

    with tempfile.TemporaryDirectory() as work:
        cache = Path(work)
        cached = SimilarityMeter(model, pooling, None, cache)
        run(cached)  # fills the cache, and warms both paths
        times: dict[str, list[float]] = {"without": [], "with": [], "with, vectors cached": []}
        for _ in range(args.repeat):
            times["without"].append(run(None))
            times["with"].append(run(SimilarityMeter(model, pooling, None, None)))
            times["with, vectors cached"].append(run(cached))
        cached.close()
    base = statistics.median(times["without"])
    print(f"demo model, {len(pairs)} pairs, mode {args.mode}, {args.repeat} repeats (median [min-max] s per run)")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"  {name:22} {median:6.3f} [{min(values):.3f}-{max(values):.3f}]  ratio {median / base:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
