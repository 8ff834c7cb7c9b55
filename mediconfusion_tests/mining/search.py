"""The search: pairs an encoder sees as alike while a reference encoder tells them apart.

Embeddings are L2-normalised; a pair (i, j) is a candidate when its encoder cosine is at least
``min_encoder_sim`` and its reference cosine at most ``max_reference_sim``; candidates rank by the gap
(encoder minus reference cosine), largest first. Exact and blockwise: one block of rows at a time against
all later rows, so memory holds ``block x n`` similarities, never ``n x n``; the reference cosine is computed
only for the pairs that pass the encoder threshold. The best ``pool`` candidates are kept in a heap; then,
in rank order, pairs that share a source, are the same picture (``near_duplicate``), or would give an image
more than ``per_image`` pairs are passed over. numpy only: no torch, no pytest.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence

    from numpy.typing import NDArray

    #: (rows, cols, encoder cosines) of one block's pairs past the encoder threshold.
    Block = tuple[NDArray[np.intp], NDArray[np.intp], NDArray[np.float32]]

#: The most one block of similarities may take (rows x n float32): 80k images give blocks of 838 rows.
MAX_BLOCK_BYTES = 256 * 1024 * 1024
#: Two images are the same picture (a re-encoded, resized or lightly edited copy) when their 16 x 16 grey
#: thumbnails differ by at most this many grey levels (of 255) at the 99th percentile of pixels. Measured on
#: scene images: copies (JPEG at quality 40-70, resized) 3-13; the same scene drawn with new noise 2-3; one
#: finding changed (a lesion, an aneurysm, a fracture) 31-142. A whole-image hash cannot tell a copy from
#: a changed finding (64-bit difference hashes: copies 0-3 bits apart, changed findings 0-24).
NEAR_DUPLICATE_LEVELS = 20.0
THUMBNAIL = 16


@dataclass(frozen=True)
class SearchSettings:
    min_encoder_sim: float
    max_reference_sim: float
    per_image: int = 1
    limit: int = 500
    #: How many candidates the heap holds before the per-image and same-source rules are applied.
    pool: int = 200_000
    #: "exact" (numpy, blockwise), "faiss" (faiss's exact range search) or "faiss-ivf" (an inverted file:
    #: approximate, ``nprobe`` lists searched per query).
    index: str = "exact"
    nprobe: int = 32


@dataclass(frozen=True)
class Candidate:
    first: int
    second: int
    encoder_sim: float
    reference_sim: float

    @property
    def gap(self) -> float:
        return self.encoder_sim - self.reference_sim


@dataclass
class SearchReport:
    candidates: list[Candidate]
    #: Pairs past both thresholds (before the pool, the exclusions and the limit).
    passing: int = 0
    same_source: int = 0
    near_duplicate: int = 0
    over_per_image: int = 0
    pool_full: bool = False


def normalise(vectors: NDArray[np.floating]) -> NDArray[np.float32]:
    """Rows scaled to unit length (a zero row stays zero, so its cosines are 0)."""
    array = np.asarray(vectors, dtype=np.float32)
    if array.ndim != 2:
        raise ValueError(f"embeddings must be a 2-D array (images x dimensions), got shape {array.shape}")
    if not np.isfinite(array).all():
        bad = int(np.flatnonzero(~np.isfinite(array).all(axis=1))[0])
        raise ValueError(f"the embedding of image #{bad} holds NaN or infinity")
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    out: NDArray[np.float32] = (array / np.where(norms == 0, 1, norms)).astype(np.float32)
    return out


def block_rows(n: int) -> int:
    """Rows per block so that a block's similarities to all n images stay under MAX_BLOCK_BYTES."""
    return max(1, min(n, MAX_BLOCK_BYTES // (4 * max(n, 1))))


def search(
    encoder: NDArray[np.floating],
    reference: NDArray[np.floating],
    settings: SearchSettings,
    sources: Sequence[str | None] | None = None,
    thumbnails: NDArray[np.floating] | None = None,
) -> SearchReport:
    """Candidates over all pairs of the n images whose rows ``encoder`` and ``reference`` hold."""
    enc, ref = normalise(encoder), normalise(reference)
    if enc.shape[0] != ref.shape[0]:
        raise ValueError(f"{enc.shape[0]} encoder embeddings but {ref.shape[0]} reference embeddings")
    heap: list[tuple[float, int, int, float, float]] = []
    report = SearchReport([])
    for rows, cols, encoder_sims in encoder_blocks(enc, settings):
        later = cols > rows  # each unordered pair once, never an image with itself
        rows, cols, encoder_sims = rows[later], cols[later], encoder_sims[later]
        if rows.size == 0:
            continue
        reference_sims = np.einsum("ij,ij->i", ref[rows], ref[cols])
        keep = reference_sims <= settings.max_reference_sim
        rows, cols, reference_sims, encoder_sims = rows[keep], cols[keep], reference_sims[keep], encoder_sims[keep]
        report.passing += int(rows.size)
        # Only what can still enter the heap reaches Python: nothing below its floor, at most `pool` per block
        # (the best by the heap's own order: gap, then the lower ids).
        gaps = encoder_sims.astype(np.float64) - reference_sims.astype(np.float64)  # as the heap's floats
        if len(heap) == settings.pool:
            better = gaps >= heap[0][0]
            report.pool_full = report.pool_full or not bool(better.all())
            rows, cols, encoder_sims, reference_sims = (a[better] for a in (rows, cols, encoder_sims, reference_sims))
            gaps = gaps[better]
        if rows.size > settings.pool:
            report.pool_full = True
            best = np.lexsort((cols, rows, -gaps))[: settings.pool]
            rows, cols, encoder_sims, reference_sims = (a[best] for a in (rows, cols, encoder_sims, reference_sims))
        for i, j, e, r in zip(
            rows.tolist(), cols.tolist(), encoder_sims.tolist(), reference_sims.tolist(), strict=True
        ):
            entry = (e - r, -i, -j, e, r)  # ties: the lower ids first
            if len(heap) < settings.pool:
                heapq.heappush(heap, entry)
            elif entry > heap[0]:
                heapq.heapreplace(heap, entry)
                report.pool_full = True
            else:
                report.pool_full = True
    ranked = sorted(heap, reverse=True)
    used: dict[int, int] = {}
    for _gap, i, j, e, r in ranked:
        first, second = -i, -j
        if sources is not None and sources[first] and sources[first] == sources[second]:
            report.same_source += 1
            continue
        if thumbnails is not None and near_duplicate(thumbnails[first], thumbnails[second]):
            report.near_duplicate += 1
            continue
        if used.get(first, 0) >= settings.per_image or used.get(second, 0) >= settings.per_image:
            report.over_per_image += 1
            continue
        used[first] = used.get(first, 0) + 1
        used[second] = used.get(second, 0) + 1
        report.candidates.append(Candidate(first, second, e, r))
        if len(report.candidates) >= settings.limit:
            break
    return report


def near_duplicate(a: NDArray[np.floating], b: NDArray[np.floating]) -> bool:
    """Two grey thumbnails (THUMBNAIL x THUMBNAIL values, 0-255) of the same picture."""
    difference = np.abs(np.asarray(a, np.float32) - np.asarray(b, np.float32))
    return bool(np.quantile(difference, 0.99) <= NEAR_DUPLICATE_LEVELS)


def block_starts(n: int) -> range:
    """The first row of each block of the search over n images."""
    return range(0, n, block_rows(n))


def encoder_blocks(
    enc: NDArray[np.float32], settings: SearchSettings, starts: Iterable[int] | None = None
) -> Iterator[Block]:
    """(rows, cols, encoder cosines) of the pairs past the encoder threshold, one block of rows at a time, for
    the blocks beginning at ``starts`` (all of them by default; a benchmark times a sample)."""
    starts = block_starts(enc.shape[0]) if starts is None else starts
    if settings.index == "exact":
        return _exact_blocks(enc, settings, starts)
    return _faiss_blocks(enc, settings, starts)


def _exact_blocks(enc: NDArray[np.float32], settings: SearchSettings, starts: Iterable[int]) -> Iterator[Block]:
    n = enc.shape[0]
    step = block_rows(n)
    for start in starts:
        # Only the columns from the block's first row on: a pair (i, j) is kept once, with i < j, so the
        # columns before the block hold nothing new (half the work of a full row).
        sims = enc[start : min(n, start + step)] @ enc[start:].T
        rows, cols = np.nonzero(sims >= settings.min_encoder_sim)
        yield rows + start, cols + start, sims[rows, cols]


def _faiss_blocks(enc: NDArray[np.float32], settings: SearchSettings, starts: Iterable[int]) -> Iterator[Block]:
    """Through faiss's range search: exact (IndexFlatIP), or with ``faiss-ivf`` an inverted file
    (IndexIVFFlat, 4 sqrt(n) lists, ``settings.nprobe`` of them searched per query), which misses the pairs
    whose two images fall in lists it does not probe."""
    try:
        import faiss
    except ImportError:
        raise ValueError(f"--index {settings.index} needs faiss: pip install faiss-cpu (or faiss-gpu)") from None
    n, dim = enc.shape
    index: faiss.Index
    if settings.index == "faiss":
        index = faiss.IndexFlatIP(dim)
    else:
        # 4 sqrt(n) lists, as faiss's guidelines suggest, and at least 39 training points for each.
        lists = max(1, min(int(4 * np.sqrt(n)), n // 39))
        quantizer = faiss.IndexFlatIP(dim)  # held here for the index's lifetime (faiss does not own it)
        inverted = faiss.IndexIVFFlat(quantizer, dim, lists, faiss.METRIC_INNER_PRODUCT)
        sample = np.random.default_rng(0).choice(n, size=min(n, 64 * lists), replace=False)
        inverted.train(enc[np.sort(sample)])
        inverted.nprobe = min(settings.nprobe, lists)
        index = inverted
    index.add(enc)
    step = block_rows(n)
    for start in starts:
        limits, sims, ids = index.range_search(enc[start : min(n, start + step)], settings.min_encoder_sim)
        bounds = np.asarray(limits, dtype=np.int64)
        per_query = bounds[1:] - bounds[:-1]  # the pairs found for each query row
        rows = np.repeat(np.arange(start, start + len(per_query)), per_query)
        yield rows, ids.astype(np.intp), sims.astype(np.float32)
