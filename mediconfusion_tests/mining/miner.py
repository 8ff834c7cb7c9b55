"""``mediconfusion mine-pairs``: embed every image with two encoders (cached), search, write the candidates.

Output folder: ``review.html`` (the review sheet, review_page.py), ``candidates.csv`` (one row per candidate
pair, best first, with empty question, options and answers in the columns ``make-pairs`` reads, for those who
review in a spreadsheet) and ``mining.json`` (the settings, both encoders' fingerprints, counts, timings and
the similarity distributions the thresholds cut).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from mediconfusion_tests.atomic import write_text_atomic
from mediconfusion_tests.data.image_files import read_image_file
from mediconfusion_tests.data.own_pairs import CSV_COLUMNS
from mediconfusion_tests.errors import DataError
from mediconfusion_tests.mining.drafting import DraftResult, draft_fields
from mediconfusion_tests.mining.review_page import render_review
from mediconfusion_tests.mining.search import THUMBNAIL, Candidate, SearchSettings, normalise, search
from mediconfusion_tests.models.image_encoders import DEFAULT_ENCODER, DEFAULT_REFERENCE, ImageEncoder, resolve_encoder
from mediconfusion_tests.run.embedding_store import EmbeddingCache

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path

    from numpy.typing import NDArray
    from PIL import Image

    from mediconfusion_tests.mining.sources import CaptionedImage

#: The columns of candidates.csv: the pair as found, then make-pairs' own (image_1 and image_2 among the first).
COLUMNS = (
    "rank",
    "gap",
    "encoder_similarity",
    "reference_similarity",
    "id_1",
    "image_1",
    "text_1",
    "source_1",
    "id_2",
    "image_2",
    "text_2",
    "source_2",
    *CSV_COLUMNS[2:],
    "status",
)
#: What near_duplicate compares, cached like an embedding.
PIXEL_HASH = f"pixels:grey-{THUMBNAIL}x{THUMBNAIL}-box"


@dataclass(frozen=True)
class MineSettings:
    encoder: str = DEFAULT_ENCODER
    reference: str = DEFAULT_REFERENCE
    min_encoder_sim: float = 0.9
    max_reference_sim: float = 0.5
    per_image: int = 1
    limit: int = 500
    batch_size: int = 32
    device: str = "auto"
    shard: tuple[int, int] | None = None
    index: str = "exact"
    nprobe: int = 32
    #: A model spec that drafts each candidate's question from the two texts (None: rows "needs writing").
    drafter: str | None = None
    max_requests: int | None = None


@dataclass
class EmbedStats:
    spec: str
    fingerprint: str
    computed: int = 0
    reused: int = 0
    seconds: float = 0.0
    images_per_second: float | None = None


@dataclass
class MineResult:
    images: int
    candidates: list[Candidate]
    stats: list[EmbedStats] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)
    drafts: list[DraftResult] = field(default_factory=list)


def file_digest(path: Path) -> str:
    return hashlib.sha256(read_image_file(path)).hexdigest()


def load_rgb(path: Path) -> Image.Image:
    from PIL import Image

    with Image.open(io.BytesIO(read_image_file(path))) as image:
        return image.convert("RGB")


def thumbnail(image: Image.Image) -> NDArray[np.float32]:
    """The grey THUMBNAIL x THUMBNAIL box-filtered picture, flattened (what near_duplicate compares)."""
    from PIL import Image

    small = image.convert("L").resize((THUMBNAIL, THUMBNAIL), Image.Resampling.BOX)
    return np.asarray(small, dtype=np.float32).ravel()


def embed(
    items: Sequence[CaptionedImage],
    digests: Sequence[str],
    spec: str,
    fingerprint: str,
    compute: Callable[[list[Image.Image]], NDArray[np.float32]],
    cache: EmbeddingCache | None,
    batch_size: int,
    progress: Callable[[int, int, str], None] | None = None,
) -> tuple[NDArray[np.float32], EmbedStats]:
    """One row per item: from the cache where it has the image's digest, else computed in batches (and cached
    batch by batch, so an interrupted run keeps what it paid for)."""
    stats = EmbedStats(spec, fingerprint)
    known = cache.get(list(dict.fromkeys(digests))) if cache is not None else {}
    missing = [index for index, digest in enumerate(digests) if digest not in known]
    stats.reused = len(items) - len(missing)
    started = time.perf_counter()
    fresh: dict[str, NDArray[np.float32]] = {}
    todo = list(dict.fromkeys(digests[i] for i in missing))
    first = {digests[i]: i for i in reversed(missing)}
    for start in range(0, len(todo), batch_size):
        chunk = todo[start : start + batch_size]
        images = [load_rgb(items[first[d]].path) for d in chunk]
        vectors = compute(images)
        rows = list(zip(chunk, vectors, strict=True))
        fresh.update(rows)
        if cache is not None:
            cache.put(rows)
        if progress is not None:
            progress(min(start + batch_size, len(todo)), len(todo), spec)
    stats.computed = len(todo)
    stats.seconds = time.perf_counter() - started
    if stats.computed and stats.seconds > 0:
        stats.images_per_second = stats.computed / stats.seconds
    table = known | fresh
    dims = {v.shape[0] for v in table.values()}
    if len(dims) > 1:
        raise DataError(f"encoder {spec}: vectors of different dimensions {sorted(dims)} (a damaged cache?)")
    return np.stack([table[d] for d in digests]).astype(np.float32), stats


def _quantiles(vectors: NDArray[np.float32], seed: int = 0, sample: int = 20_000) -> dict[str, float]:
    """Quantiles of the cosine over a random sample of pairs: where the thresholds cut this data."""
    n = vectors.shape[0]
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, n, sample), rng.integers(0, n, sample)
    keep = a != b
    sims = np.einsum("ij,ij->i", normalise(vectors[a[keep]]), normalise(vectors[b[keep]]))
    if sims.size == 0:
        return {}
    return {f"p{q}": round(float(np.quantile(sims, q / 100)), 4) for q in (1, 10, 50, 90, 99)}


def mine_pairs(
    items: Sequence[CaptionedImage],
    settings: MineSettings,
    output: Path,
    cache_folder: Path | None,
    encoders: tuple[ImageEncoder, ImageEncoder] | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> MineResult:
    """Embed (or reuse), then search and write; with ``settings.shard`` only this shard's images are embedded
    into the cache and nothing is searched (``mediconfusion merge-embeddings`` joins the caches)."""
    if len({item.id for item in items}) != len(items):
        raise DataError("two images share an id; ids must be unique")
    digests = [file_digest(item.path) for item in items]
    if settings.shard is not None:
        index, count = settings.shard
        order = sorted(range(len(items)), key=lambda i: digests[i])
        chosen = order[index - 1 :: count]
        items, digests = [items[i] for i in chosen], [digests[i] for i in chosen]
    encoder, reference = encoders or (
        resolve_encoder(settings.encoder, settings.device),
        resolve_encoder(settings.reference, settings.device),
    )
    caches: list[EmbeddingCache | None] = []
    stats: list[EmbedStats] = []
    vectors: list[NDArray[np.float32]] = []
    try:
        for model in (encoder, reference):
            cache = EmbeddingCache.open(cache_folder, model.fingerprint) if cache_folder is not None else None
            caches.append(cache)
            found, stat = embed(
                items, digests, model.spec, model.fingerprint, model.embed, cache, settings.batch_size, progress
            )
            vectors.append(found)
            stats.append(stat)
        pixel_cache = EmbeddingCache.open(cache_folder, PIXEL_HASH) if cache_folder is not None else None
        caches.append(pixel_cache)
        bits, _ = embed(
            items,
            digests,
            "thumbnails",
            PIXEL_HASH,
            lambda images: np.stack([thumbnail(i) for i in images]),
            pixel_cache,
            max(settings.batch_size, 64),
        )
    finally:
        for cache in caches:
            if cache is not None:
                cache.close()
    output.mkdir(parents=True, exist_ok=True)
    result = MineResult(len(items), [], stats)
    if settings.shard is not None:
        summary = {"shard": list(settings.shard), "images": len(items), "embedding": [asdict(s) for s in stats]}
        result.written.append(_write_json(output / f"shard-{settings.shard[0]}-of-{settings.shard[1]}.json", summary))
        return result
    started = time.perf_counter()
    report = search(
        vectors[0],
        vectors[1],
        SearchSettings(
            settings.min_encoder_sim,
            settings.max_reference_sim,
            settings.per_image,
            settings.limit,
            index=settings.index,
            nprobe=settings.nprobe,
        ),
        sources=[item.source for item in items],
        thumbnails=bits,
    )
    search_s = time.perf_counter() - started
    result.candidates = report.candidates
    drafts = _drafts(items, report.candidates, settings, cache_folder)
    result.drafts = drafts
    result.written.append(write_candidates(output / "candidates.csv", items, report.candidates, drafts))
    review = output / "review.html"
    write_text_atomic(review, render_review(items, report.candidates, asdict(settings), drafts))
    result.written.append(review)
    summary = {
        "schema": "mediconfusion-tests/mining",
        "settings": asdict(settings),
        "images": len(items),
        "embedding": [asdict(s) for s in stats],
        "similarity_quantiles": {"encoder": _quantiles(vectors[0]), "reference": _quantiles(vectors[1])},
        "search": {
            "seconds": round(search_s, 3),
            "passing_both_thresholds": report.passing,
            "dropped_same_source": report.same_source,
            "dropped_near_duplicate": report.near_duplicate,
            "dropped_over_per_image": report.over_per_image,
            "pool_full": report.pool_full,
            "candidates": len(report.candidates),
        },
    }
    if settings.drafter:
        summary["drafting"] = {
            "drafter": settings.drafter,
            "drafted": sum(d.draft is not None for d in drafts),
            "needs_writing": sum(d.draft is None for d in drafts),
            "requests": sum(d.requests for d in drafts),
        }
    result.written.append(_write_json(output / "mining.json", summary))
    return result


def _drafts(
    items: Sequence[CaptionedImage], candidates: Sequence[Candidate], settings: MineSettings, cache: Path | None
) -> list[DraftResult]:
    if not settings.drafter or not candidates:
        return []
    from mediconfusion_tests.mining.drafting import Drafter, drafter_config, store_path

    config = drafter_config(settings.drafter, settings.device, settings.max_requests)
    drafter = Drafter(settings.drafter, config, None if cache is None else store_path(cache.parent))
    try:
        return drafter.draft([(items[c.first].text, items[c.second].text) for c in candidates])
    finally:
        drafter.close()


def write_candidates(
    path: Path, items: Sequence[CaptionedImage], candidates: Sequence[Candidate], drafts: Sequence[DraftResult] = ()
) -> Path:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for rank, found in enumerate(candidates, start=1):
        a, b = items[found.first], items[found.second]
        categories = "; ".join(dict.fromkeys(c for c in (a.category, b.category) if c))
        fields = draft_fields(drafts[rank - 1] if drafts else None, categories)
        writer.writerow(
            [
                rank,
                f"{found.gap:.4f}",
                f"{found.encoder_sim:.4f}",
                f"{found.reference_sim:.4f}",
                a.id,
                str(a.path.resolve()),
                a.text,
                a.source or "",
                b.id,
                str(b.path.resolve()),
                b.text,
                b.source or "",
                *(fields[name] for name in (*CSV_COLUMNS[2:], "status")),
            ]
        )
    write_text_atomic(path, buffer.getvalue())
    return path


def _write_json(path: Path, data: dict[str, Any]) -> Path:
    write_text_atomic(path, json.dumps(data, indent=2) + "\n")
    return path
