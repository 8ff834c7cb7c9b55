"""--shard I/N: shards are disjoint, complete, balanced and stable."""

from __future__ import annotations

import random
from collections import Counter
from typing import TYPE_CHECKING

from mediconfusion_tests.data.sources import load_pairs, resolve_dataset
from mediconfusion_tests.run.shards import assignment, select

if TYPE_CHECKING:
    from pathlib import Path


def test_shards_are_disjoint_complete_balanced_and_stable(real_dataset: dict, shared_dir: Path) -> None:
    pairs = load_pairs(resolve_dataset(str(shared_dir / "dataset.json")))
    assert len(pairs) == 176
    for count in (2, 3, 4, 7):
        owner = assignment(pairs, count)
        sizes = Counter(owner.values())
        assert sorted(sizes) == list(range(1, count + 1))
        assert max(sizes.values()) - min(sizes.values()) <= 1, sizes
        chosen = [pair.id for index in range(1, count + 1) for pair in select(pairs, f"{index}/{count}")]
        assert sorted(chosen) == sorted(p.id for p in pairs)  # every pair once
        # Each first category spread over the shards within one pair.
        by_category: dict[str, Counter[int]] = {}
        for pair in pairs:
            first = (pair.categories[0] or pair.all_categories)[0]
            by_category.setdefault(first, Counter())[owner[pair.id]] += 1
        for category, spread in by_category.items():
            shares = [spread.get(i, 0) for i in range(1, count + 1)]
            assert max(shares) - min(shares) <= 1, (category, shares)
        # The split depends on the pairs only, not on the order they arrive in.
        shuffled = list(pairs)
        random.Random(count).shuffle(shuffled)
        assert assignment(shuffled, count) == owner
