"""Our per-pair tables against ones the original harness published (llava_med_greedy.json, gpt_mc.json)."""

from __future__ import annotations

from helpers import outcome

from mediconfusion_tests.scoring.harness import empty_table, pair_table, table_mismatches, total_table

CATEGORIES = ["Cerebral", "Vascular", "Head and Neck", "Spinal"]


def row(**counts: int) -> dict[str, int]:
    base = {c: 0 for c in CATEGORIES} | {"total": 0}
    return base | {k.replace("_", " "): v for k, v in counts.items()}


def test_set_correct_pair_matches_published_table() -> None:
    # gpt_mc.json, pair 10001: answered A, B; truth A, B.
    o = outcome("10001", ("A", "B"), ("A", "B"), (("Cerebral", "Vascular"), ("Cerebral", "Vascular")))
    recorded = {
        "set_score": row(Cerebral=2, Vascular=2, total=1),
        "individual_score": row(Cerebral=2, Vascular=2, total=2),
        "confused": row(),
        "invalid": row(),
    }
    assert table_mismatches(recorded, pair_table(o, CATEGORIES)) == []


def test_confused_pair_with_uneven_categories_matches_published_table() -> None:
    # llava_med_greedy.json, pair 10009: answered A, A; truth A, B.
    o = outcome("10009", ("A", "B"), ("A", "A"), (("Cerebral",), ("Cerebral", "Head and Neck", "Spinal")))
    recorded = {
        "set_score": row(),
        "individual_score": row(Cerebral=1, total=1),
        "confused": row(Cerebral=2, Head_and_Neck=1, Spinal=1, total=1),
        "invalid": row(),
    }
    assert table_mismatches(recorded, pair_table(o, CATEGORIES)) == []
    table = pair_table(o, CATEGORIES)
    assert table["valids"]["total"] == 1
    assert table["valid_pairs"]["total"] == 0  # valid but confused


def test_mismatches_are_reported_by_table_and_key() -> None:
    o = outcome("1", ("A", "B"), ("A", "B"), (("Cerebral",), ("Cerebral",)))
    recorded = {"set_score": row(Cerebral=1, total=1)}
    assert table_mismatches(recorded, pair_table(o, CATEGORIES)) == ["set_score[Cerebral] recorded 1, recomputed 2"]
    assert table_mismatches("nonsense", pair_table(o, CATEGORIES)) == ["score is not an object"]


def test_totals_add_up_over_pairs() -> None:
    pairs = [
        outcome("1", ("A", "B"), ("A", "B")),
        outcome("2", ("A", "B"), (None, "B")),
    ]
    total = total_table(pairs, CATEGORIES)
    assert total["set_score"]["total"] == 1
    assert total["invalid"] == empty_table(CATEGORIES)["invalid"] | {"Cerebral": 1, "total": 1}
    assert total["individual_score"]["Cerebral"] == 3
