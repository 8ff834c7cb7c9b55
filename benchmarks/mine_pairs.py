"""mine-pairs at scale: the end-to-end command on 200 scene images with tiny encoders, and the search alone on
synthetic embeddings (time and peak memory).

    python benchmarks/mine_pairs.py                      # 200 images end to end, then 20k and 80k embeddings
    python benchmarks/mine_pairs.py --sizes 80000 --dim 512
    python benchmarks/mine_pairs.py --skip-end-to-end --sizes 1000000 --sample-blocks 40

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
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from numpy.typing import NDArray

    from mediconfusion_tests.mining.search import SearchSettings

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


def search_scale(sizes: list[int], dim: int, indexes: list[str], sample_blocks: int) -> None:
    """Each size with each index: exact (numpy), faiss (flat, exact), faiss-ivf (inverted file, nprobe 32);
    faiss runs also say how many of the exact run's passing pairs and candidates they found.

    With ``sample_blocks`` K > 0 only K blocks of query rows, evenly spaced over the n images, are searched
    (the first block always, so an index's construction is timed for real) and the whole search is projected:
    first block + mean of the others x the remaining blocks. Evenly spaced blocks estimate the sum whatever
    each block's cost (exact search's blocks shrink towards the end: each meets only the later images).
    Memory is measured, not projected: every array of the full search is allocated."""
    from statistics import NormalDist

    from mediconfusion_tests.mining.search import (
        MAX_BLOCK_BYTES,
        SearchSettings,
        block_starts,
        encoder_blocks,
        normalise,
        search,
    )

    rng = np.random.default_rng(0)
    for n in sizes:
        enc = rng.normal(size=(n, dim)).astype(np.float32)
        ref = rng.normal(size=(n, dim)).astype(np.float32)
        # Random unit vectors in d dimensions have cosines of spread 1/sqrt(d): keep ~1000 pairs.
        threshold = NormalDist(0, 1 / np.sqrt(dim)).inv_cdf(1 - 1000 / (n * (n - 1) / 2))
        exact: set[tuple[int, int]] | None = None
        for name in indexes:
            settings = SearchSettings(float(threshold), 1.0, per_image=1, limit=500, index=name)
            tracemalloc.start()
            started = time.perf_counter()
            if sample_blocks:
                found, line = _sampled(normalise(enc), settings, sample_blocks, block_starts, encoder_blocks)
            else:
                report = search(enc, ref, settings)
                found = {(c.first, c.second) for c in report.candidates}
                line = f"{report.passing} pairs passing, {len(report.candidates)} candidates"
            seconds = time.perf_counter() - started
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            if name == "exact":
                exact = found
            agreement = "" if exact is None or name == "exact" else f", {len(found & exact)}/{len(exact)} of exact's"
            print(
                f"search {name}, {n} x {dim}: {seconds:.1f} s{' measured' if sample_blocks else ''}, peak "
                f"{peak / 2**20:.0f} MiB traced by numpy, process peak RSS {_peak_rss_mib():.0f} MiB (the n x n "
                f"matrix would be {n * n * 4 / 2**30:.1f} GiB; blocks of {MAX_BLOCK_BYTES // 2**20} MiB), "
                f"{line}{agreement}",
                flush=True,
            )


def _sampled(
    enc: NDArray[np.float32],
    settings: SearchSettings,
    count: int,
    block_starts: Callable[[int], range],
    encoder_blocks: Callable[..., Iterator[tuple[NDArray[np.intp], NDArray[np.intp], NDArray[np.float32]]]],
) -> tuple[set[tuple[int, int]], str]:
    """K evenly spaced blocks searched, the whole search projected; returns the pairs past the encoder
    threshold in those blocks (to compare indexes on the same query rows) and a line to print."""
    starts = list(block_starts(enc.shape[0]))
    chosen = sorted({starts[round(k * (len(starts) - 1) / max(1, count - 1))] for k in range(count)})
    seconds: list[float] = []
    found: set[tuple[int, int]] = set()
    clock = time.perf_counter()
    for rows, cols, _sims in encoder_blocks(enc, settings, chosen):
        seconds.append(time.perf_counter() - clock)
        later = cols > rows
        found.update(zip(rows[later].tolist(), cols[later].tolist(), strict=True))
        clock = time.perf_counter()
    rest = seconds[1:] or seconds
    projected = seconds[0] + sum(rest) / len(rest) * (len(starts) - 1)
    line = (
        f"{len(chosen)} of {len(starts)} blocks searched (first block with any index construction {seconds[0]:.1f} s, "
        f"the others {min(rest):.2f}-{max(rest):.2f} s each): whole search projected {projected:.0f} s "
        f"= {projected / 60:.1f} min; {len(found)} pairs past the encoder threshold in those blocks"
    )
    return found, line


def _peak_rss_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--sizes", type=int, nargs="*", default=[20_000, 80_000])
    parser.add_argument("--dim", type=int, default=512, help="embedding width (BiomedCLIP: 512, DINOv2-base: 768)")
    parser.add_argument("--skip-end-to-end", action="store_true")
    parser.add_argument("--indexes", nargs="*", default=["exact", "faiss", "faiss-ivf"], help="exact faiss faiss-ivf")
    parser.add_argument(
        "--sample-blocks",
        type=int,
        default=0,
        help="search only this many evenly spaced blocks of query rows and project the whole search (0: all)",
    )
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPU(s)")
    if not args.skip_end_to_end:
        end_to_end(args.images)
    search_scale(args.sizes, args.dim, args.indexes, args.sample_blocks)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
