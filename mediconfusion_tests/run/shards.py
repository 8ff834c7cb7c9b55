"""``--shard I/N``: which pairs each of N machines (or CI jobs) answers, the same on every run.

Pairs are dealt round-robin, category by category (by each pair's first
category, then its id), the count carrying over from one category to the next:
every shard gets a share of each category (within one pair) and of the whole
(within one pair), and the split depends only on the dataset, never on the
machine, the order of collection or the run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

    from mediconfusion_tests.data.schema import Pair


def parse(text: str) -> tuple[int, int]:
    index, _, count = text.partition("/")
    return int(index), int(count)


def assignment(pairs: Sequence[Pair], count: int) -> dict[str, int]:
    """Pair id -> its shard, 1..count."""
    ordered = sorted(pairs, key=lambda p: ((p.categories[0] or p.all_categories or ("",))[0], p.id))
    return {pair.id: position % count + 1 for position, pair in enumerate(ordered)}


def select(pairs: Sequence[Pair], shard: str | None) -> list[Pair]:
    if not shard:
        return list(pairs)
    index, count = parse(shard)
    owner = assignment(pairs, count)
    return [pair for pair in pairs if owner[pair.id] == index]
