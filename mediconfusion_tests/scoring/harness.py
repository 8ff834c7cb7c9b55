"""The original MediConfusion harness's score tables, so replays can be checked count for count.

The harness stores, per pair, tables named set_score, individual_score, confused,
invalid, valids and valid_pairs, each mapping every category and "total" to a
count; its _score.json file is their sum over all pairs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from mediconfusion_tests.scoring.outcome import PairOutcome

TABLES = ("set_score", "individual_score", "confused", "invalid", "valids", "valid_pairs")
ScoreTable = dict[str, dict[str, int]]


def empty_table(categories: Sequence[str]) -> ScoreTable:
    return {table: {**{c: 0 for c in categories}, "total": 0} for table in TABLES}


def _add(row: dict[str, int], categories: Iterable[str]) -> None:
    row["total"] += 1
    for category in categories:
        row[category] = row.get(category, 0) + 1


def pair_table(outcome: PairOutcome, categories: Sequence[str]) -> ScoreTable:
    """The harness's per-pair table for one scored outcome."""
    table = empty_table(categories)
    cat_1, cat_2 = outcome.categories
    both = list(cat_1) + list(cat_2)
    if outcome.confused:
        _add(table["confused"], both)
    for cats, ok, bad in zip((cat_1, cat_2), outcome.correct, outcome.invalid, strict=True):
        if ok:
            _add(table["individual_score"], cats)
        if bad:
            _add(table["invalid"], cats)
    if outcome.valid:
        _add(table["valids"], both)
        if not outcome.confused:
            _add(table["valid_pairs"], both)
    if outcome.set_correct:
        _add(table["set_score"], both)
    return table


def total_table(outcomes: Iterable[PairOutcome], categories: Sequence[str]) -> ScoreTable:
    total = empty_table(categories)
    for outcome in outcomes:
        for name, row in pair_table(outcome, categories).items():
            for key, count in row.items():
                total[name][key] = total[name].get(key, 0) + count
    return total


def table_mismatches(recorded: object, computed: ScoreTable) -> list[str]:
    """Where a recorded per-pair table disagrees with ours (tables it lacks are skipped)."""
    if not isinstance(recorded, dict):
        return ["score is not an object"]
    problems = []
    for name, row in recorded.items():
        if name not in computed or not isinstance(row, dict):
            continue
        for key, count in row.items():
            if computed[name].get(key, 0) != count:
                problems.append(f"{name}[{key}] recorded {count}, recomputed {computed[name].get(key, 0)}")
    return problems
