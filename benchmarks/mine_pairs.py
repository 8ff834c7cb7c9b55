"""mine-pairs at scale: the end-to-end command on 200 scene images with tiny encoders, and the search alone on
synthetic embeddings (time and peak memory).

    python benchmarks/mine_pairs.py                      # 200 images end to end, then 20k and 80k embeddings
    python benchmarks/mine_pairs.py --sizes 80000 --dim 512
    python benchmarks/mine_pairs.py --skip-end-to-end --sizes 1000000 --indexes faiss-ivf

The end-to-end part builds a tiny random CLIP (encoder) and DINOv2 (reference) as transformers folders
(tests/tiny_encoders.py) and runs
``mediconfusion mine-pairs`` twice (the second run reads every vector from the cache). The search part times
``mining.search.search`` on random unit vectors with thresholds that keep about a thousand pairs, and reports
the peak memory numpy allocated (tracemalloc), which the blockwise search bounds by MAX_BLOCK_BYTES.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))


def end_to_end(images: int) -> None:
    from tiny_encoders import build_tiny_encoders

    from mediconfusion_tests.cli import main
    from mediconfusion_tests.sample.scenes import KINDS, draw_scene, every_scene

    scenes = [s for kind in KINDS for s in every_scene(kind)]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.environ["MEDICONFUSION_CACHE"] = str(root / "cache")
        clip, dino = build_tiny_encoders(root, width=64, layers=2, image_size=64)
        with (root / "captions.csv").open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["image", "text", "source"])
            for index in range(images):
                draw_scene(7000 + index, scenes[index % len(scenes)]).save(root / f"{index}.jpg", quality=90)
                writer.writerow([f"{index}.jpg", f"caption {index}", f"S{index}"])
        args = ["mine-pairs", str(root / "captions.csv"), "-o", str(root / "out"), "--device", "cpu"]
        args += ["--encoder", f"hf:{clip}", "--reference", f"hf:{dino}", "--min-encoder-sim", "0.5"]
        args += ["--max-reference-sim", "0.99"]
        for label in ("first run", "cached rerun"):
            started = time.perf_counter()
            code = main(args)
            print(f"end to end, {images} images, {label}: {time.perf_counter() - started:.1f} s (exit {code})")


def search_scale(sizes: list[int], dim: int, indexes: list[str]) -> None:
    """Each size with each index: exact (numpy), faiss (flat, exact), faiss-ivf (inverted file, nprobe 32);
    faiss runs also say how many of the exact run's passing pairs and candidates they found."""
    from statistics import NormalDist

    from mediconfusion_tests.mining.search import MAX_BLOCK_BYTES, SearchSettings, search

    rng = np.random.default_rng(0)
    for n in sizes:
        enc = rng.normal(size=(n, dim)).astype(np.float32)
        ref = rng.normal(size=(n, dim)).astype(np.float32)
        # Random unit vectors in d dimensions have cosines of spread 1/sqrt(d): keep ~1000 pairs.
        threshold = NormalDist(0, 1 / np.sqrt(dim)).inv_cdf(1 - 1000 / (n * (n - 1) / 2))
        exact: set[tuple[int, int]] | None = None
        for name in indexes:
            settings = SearchSettings(
                float(threshold),
                1.0,
                per_image=1,
                limit=500,
                index=name,
            )
            tracemalloc.start()
            started = time.perf_counter()
            report = search(enc, ref, settings)
            seconds = time.perf_counter() - started
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            found = {(c.first, c.second) for c in report.candidates}
            if name == "exact":
                exact = found
            agreement = "" if exact is None or name == "exact" else f", {len(found & exact)}/{len(exact)} of exact's"
            print(
                f"search {name}, {n} x {dim}: {seconds:.1f} s, peak {peak / 2**20:.0f} MiB traced by numpy (the n x n "
                f"matrix would be {n * n * 4 / 2**30:.1f} GiB; blocks of {MAX_BLOCK_BYTES // 2**20} MiB), "
                f"{report.passing} pairs passing, {len(report.candidates)} candidates{agreement}"
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--sizes", type=int, nargs="*", default=[20_000, 80_000])
    parser.add_argument("--dim", type=int, default=512, help="embedding width (BiomedCLIP: 512, DINOv2-base: 768)")
    parser.add_argument("--skip-end-to-end", action="store_true")
    parser.add_argument("--indexes", nargs="*", default=["exact", "faiss", "faiss-ivf"], help="exact faiss faiss-ivf")
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPU(s)")
    if not args.skip_end_to_end:
        end_to_end(args.images)
    search_scale(args.sizes, args.dim, args.indexes)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
