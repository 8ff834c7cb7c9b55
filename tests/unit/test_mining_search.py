"""The mining search on embeddings with planted structure: exact, blockwise, with its exclusions."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from mediconfusion_tests.mining import search as search_module
from mediconfusion_tests.mining.search import SearchSettings, normalise, search

PLANTED = [(3, 17), (5, 29), (8, 12), (20, 33)]


def planted(n: int = 40, dim: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Random encoder and reference embeddings where each planted pair is nearly identical to the encoder
    (cosine ~0.99, the gap decreasing in list order) and opposite to the reference."""
    rng = np.random.default_rng(seed)
    enc = rng.normal(size=(n, dim))
    ref = rng.normal(size=(n, dim))
    for rank, (i, j) in enumerate(PLANTED):
        enc[j] = enc[i] + rng.normal(size=dim) * (0.05 + 0.05 * rank)
        ref[j] = -ref[i]
    return enc, ref


def brute_force(enc: np.ndarray, ref: np.ndarray, low: float, high: float) -> list[tuple[int, int]]:
    e, r = normalise(enc), normalise(ref)
    found = [
        (float(e[i] @ e[j] - r[i] @ r[j]), i, j)
        for i, j in itertools.combinations(range(len(e)), 2)
        if e[i] @ e[j] >= low and r[i] @ r[j] <= high
    ]
    return [(i, j) for _gap, i, j in sorted(found, key=lambda t: (-t[0], t[1], t[2]))]


def test_the_planted_pairs_come_first_in_gap_order() -> None:
    enc, ref = planted()
    report = search(enc, ref, SearchSettings(min_encoder_sim=0.8, max_reference_sim=0.0, per_image=1, limit=10))
    assert [(c.first, c.second) for c in report.candidates[: len(PLANTED)]] == PLANTED
    gaps = [c.gap for c in report.candidates]
    assert gaps == sorted(gaps, reverse=True)
    assert all(c.encoder_sim >= 0.8 and c.reference_sim <= 0.0 for c in report.candidates)


def test_blockwise_search_equals_all_pairs_at_any_block_size(monkeypatch: pytest.MonkeyPatch) -> None:
    enc, ref = planted(n=60, seed=3)
    expected = brute_force(enc, ref, 0.2, 0.1)
    assert len(expected) > 20  # enough pairs for the comparison to mean something
    settings = SearchSettings(min_encoder_sim=0.2, max_reference_sim=0.1, per_image=60, limit=10_000)
    for block_bytes in (4 * 60, 4 * 60 * 7, 1 << 30):  # 1 row, 7 rows, all rows per block
        monkeypatch.setattr(search_module, "MAX_BLOCK_BYTES", block_bytes)
        report = search(enc, ref, settings)
        assert [(c.first, c.second) for c in report.candidates] == expected
        assert report.passing == len(expected)


def test_each_image_is_in_at_most_per_image_pairs() -> None:
    rng = np.random.default_rng(1)
    # Image 0 is the encoder's twin of 1, 2 and 3 alike; the reference tells all four apart.
    enc = rng.normal(size=(8, 8))
    enc[1:4] = enc[0] + rng.normal(size=(3, 8)) * 0.01
    ref = np.eye(8)
    one = search(enc, ref, SearchSettings(0.9, 0.5, per_image=1, limit=50)).candidates
    assert sum(0 in (c.first, c.second) for c in one) == 1
    counts: dict[int, int] = {}
    two = search(enc, ref, SearchSettings(0.9, 0.5, per_image=2, limit=50))
    for c in two.candidates:
        counts[c.first] = counts.get(c.first, 0) + 1
        counts[c.second] = counts.get(c.second, 0) + 1
    assert max(counts.values()) == 2
    assert two.over_per_image > 0


def test_same_source_and_near_duplicate_pixels_are_passed_over() -> None:
    enc, ref = planted()
    sources: list[str | None] = [None] * 40
    sources[3] = sources[17] = "PMC1"  # the best planted pair comes from one article
    rng = np.random.default_rng(2)
    thumbnails = rng.uniform(0, 255, size=(40, 256))
    thumbnails[29] = np.clip(thumbnails[5] + rng.normal(size=256) * 3, 0, 255)  # a re-encoded copy of 5
    thumbnails[12] = thumbnails[8]
    thumbnails[12, :8] = 255 - thumbnails[12, :8]  # one finding changed: 8 of 256 pixels, strongly
    report = search(enc, ref, SearchSettings(0.8, 0.0, limit=10), sources=sources, thumbnails=thumbnails)
    pairs = [(c.first, c.second) for c in report.candidates]
    assert (3, 17) not in pairs
    assert (5, 29) not in pairs
    assert pairs[:2] == [(8, 12), (20, 33)]
    assert report.same_source == 1
    assert report.near_duplicate == 1


def test_a_small_pool_keeps_the_best_candidates(monkeypatch: pytest.MonkeyPatch) -> None:
    enc, ref = planted(n=60, seed=3)
    full = search(enc, ref, SearchSettings(0.2, 0.1, per_image=60, limit=5))
    for block_bytes in (4 * 60 * 7, 1 << 30):  # several blocks (the heap's floor filters), one block
        monkeypatch.setattr(search_module, "MAX_BLOCK_BYTES", block_bytes)
        pooled = search(enc, ref, SearchSettings(0.2, 0.1, per_image=60, limit=5, pool=5))
        assert pooled.candidates == full.candidates
        assert pooled.pool_full


def test_bad_embeddings_are_named() -> None:
    enc, ref = planted()
    enc[7, 2] = np.nan
    with pytest.raises(ValueError, match="image #7 holds NaN"):
        search(enc, ref, SearchSettings(0.8, 0.0))
    with pytest.raises(ValueError, match="40 encoder embeddings but 39 reference"):
        search(planted()[0], ref[:39], SearchSettings(0.8, 0.0))


def test_faiss_gives_the_exact_result_and_its_inverted_file_when_it_probes_every_list() -> None:
    pytest.importorskip("faiss")
    enc, ref = planted(n=60, seed=3)
    exact = search(enc, ref, SearchSettings(0.2, 0.1, per_image=60, limit=10_000))
    flat = search(enc, ref, SearchSettings(0.2, 0.1, per_image=60, limit=10_000, index="faiss"))
    every_list = SearchSettings(0.2, 0.1, per_image=60, limit=10_000, index="faiss-ivf", nprobe=10_000)
    inverted = search(enc, ref, every_list)
    for found in (flat, inverted):
        assert [(c.first, c.second) for c in found.candidates] == [(c.first, c.second) for c in exact.candidates]
        assert found.passing == exact.passing
    one_list = SearchSettings(0.2, 0.1, per_image=60, limit=10_000, index="faiss-ivf", nprobe=1)
    approximate = search(enc, ref, one_list)
    assert approximate.passing <= exact.passing  # probing one of 30 lists finds at most the same pairs
