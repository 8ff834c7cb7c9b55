"""The ``mine-pairs`` and ``merge-embeddings`` commands of ``mediconfusion``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mediconfusion_tests.config import positive_int, shard_type
from mediconfusion_tests.errors import DataError, MediConfusionError

if TYPE_CHECKING:
    from collections.abc import Callable

BAD_INPUT = 4


def _unit_interval(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not -1.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not a cosine similarity (between -1 and 1)")
    return value


def _shard(text: str) -> tuple[int, int]:
    index, _, count = shard_type(text).partition("/")
    return int(index), int(count)


def add_mining_commands(commands: Any) -> None:
    mine = commands.add_parser(
        "mine-pairs",
        help="find candidate confusing pairs in your own captioned images (the paper's discovery method)",
        description="Pairs whose images the encoder (where a model may be confused) embeds alike while the "
        "reference encoder tells them apart, best gap first, written to DIR/candidates.csv for review, with "
        "DIR/mining.json. SRC: a captions .csv/.jsonl (columns image, text; optional id, source, category), a "
        "folder holding captions.csv or captions.jsonl, a MediConfusion-style dataset.json, or a datasets table "
        "(hf:ORG/NAME[@REV][:SPLIT], a save_to_disk folder, parquet) with image and text columns.",
    )
    mine.add_argument("source", help="captions file, folder, dataset.json, or a table (hf:ORG/NAME, folder, parquet)")
    mine.add_argument("-o", "--output", type=Path, required=True, help="folder for candidates.csv and mining.json")
    mine.add_argument(
        "--encoder",
        default="biomedclip",
        help="biomedclip (default), open_clip:NAME, hf:PATH, model:SPEC (a suite model's own vision features), "
        "python:M:F",
    )
    mine.add_argument("--reference", default="dinov2", help="dinov2 (default), hf:PATH, open_clip:NAME, python:M:F")
    mine.add_argument(
        "--min-encoder-sim", type=_unit_interval, default=0.9, help="encoder cosine at least this (default 0.9)"
    )
    mine.add_argument(
        "--max-reference-sim", type=_unit_interval, default=0.5, help="reference cosine at most this (default 0.5)"
    )
    mine.add_argument("--per-image", type=positive_int, default=1, help="pairs one image may be in (default 1)")
    mine.add_argument("--limit", type=positive_int, default=500, help="most candidates written (default 500)")
    mine.add_argument("--batch-size", type=positive_int, default=32, help="images per encoder call (default 32)")
    mine.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    mine.add_argument("--images", type=Path, help="with a dataset.json: its image folder (default images/ beside it)")
    mine.add_argument(
        "--shard", type=_shard, help="I/N: embed only this share of the images into the cache (no search)"
    )
    mine.add_argument("--no-cache", action="store_true", help="compute every embedding, keep none")
    mine.add_argument(
        "--index",
        choices=("exact", "faiss", "faiss-ivf"),
        default="exact",
        help="exact: numpy, blockwise (default); faiss: faiss's exact range search; faiss-ivf: an inverted file, "
        "approximate (pip install faiss-cpu)",
    )
    mine.add_argument("--nprobe", type=positive_int, default=32, help="faiss-ivf: lists searched per image")
    mine.add_argument(
        "--drafter",
        metavar="SPEC",
        help="a model that drafts each candidate's question, options, answers and categories from the two texts "
        "(any --model spec that writes text: gpt-4o, openai-compatible:MODEL@URL, hf:PATH); checked, retried once",
    )
    mine.add_argument(
        "--max-requests", type=positive_int, help="--drafter: stop drafting cleanly after N requests in all"
    )
    for name, default in (
        ("image", "image"),
        ("text", "text"),
        ("id", "id"),
        ("source", "source"),
        ("category", "category"),
    ):
        mine.add_argument(f"--{name}-column", default=default, help=f"a table's {name} column (default {default})")
    merged = commands.add_parser(
        "merge-embeddings",
        help="copy embedding caches from other machines into this one (after mine-pairs --shard I/N)",
    )
    merged.add_argument("sources", nargs="+", type=Path, help="cache files (*.sqlite) or folders holding them")
    merged.add_argument("--into", type=Path, help="cache folder (default: the suite's cache, embeddings/)")


def cache_folder() -> Path:
    from mediconfusion_tests.sample.build_cache import cache_root

    return cache_root() / "embeddings"


def mine_pairs_command(args: argparse.Namespace, progress: Callable[[int, int, str], None] | None = None) -> int:
    from mediconfusion_tests.mining.miner import MineSettings, mine_pairs
    from mediconfusion_tests.mining.sources import read_captioned
    from mediconfusion_tests.mining.table_source import Columns, is_table, read_table
    from mediconfusion_tests.reporting.fetch_text import ProgressBar

    settings = MineSettings(
        encoder=args.encoder,
        reference=args.reference,
        min_encoder_sim=args.min_encoder_sim,
        max_reference_sim=args.max_reference_sim,
        per_image=args.per_image,
        limit=args.limit,
        batch_size=args.batch_size,
        device=args.device,
        shard=args.shard,
        index=args.index,
        nprobe=args.nprobe,
        drafter=args.drafter,
        max_requests=args.max_requests,
    )
    columns = Columns(args.image_column, args.text_column, args.id_column, args.source_column, args.category_column)
    try:
        if is_table(args.source):
            items = read_table(args.source, cache_folder().parent / "mining-images", columns)
        else:
            items = read_captioned(Path(args.source), args.images)
        result = mine_pairs(
            items, settings, args.output, None if args.no_cache else cache_folder(), progress=progress or ProgressBar()
        )
    except (MediConfusionError, ValueError) as exc:
        print(f"mediconfusion mine-pairs: {exc}", file=sys.stderr)
        return BAD_INPUT
    for stat in result.stats:
        rate = f", {stat.images_per_second:.1f} images/s" if stat.images_per_second else ""
        print(f"{stat.spec}: {stat.computed} embedded, {stat.reused} from the cache{rate}")
    if settings.shard is not None:
        index, count = settings.shard
        print(f"shard {index}/{count}: {result.images} image(s) embedded into {cache_folder()}")
        return 0
    print(f"{len(result.candidates)} candidate pair(s) among {result.images} images: {args.output / 'candidates.csv'}")
    if not result.candidates:
        print("no pair passed both thresholds: see similarity_quantiles in mining.json to choose others")
    if result.drafts:
        drafted = sum(d.draft is not None for d in result.drafts)
        print(f"{args.drafter}: {drafted} of {len(result.drafts)} candidate(s) drafted; the rest need writing")
    return 0


def merge_embeddings_command(sources: list[Path], into: Path | None) -> int:
    from mediconfusion_tests.run.embedding_store import merge_caches

    files = [f for s in sources for f in (sorted(s.glob("*.sqlite")) if s.is_dir() else [s])]
    if not files:
        print("mediconfusion merge-embeddings: no cache files (*.sqlite) there", file=sys.stderr)
        return BAD_INPUT
    target = into or cache_folder()
    try:
        read, added = merge_caches(target, files)
    except DataError as exc:
        print(f"mediconfusion merge-embeddings: {exc}", file=sys.stderr)
        return BAD_INPUT
    print(f"{read} cache file(s) read, {added} embedding(s) added to {target}")
    return 0
