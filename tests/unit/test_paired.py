"""Exact McNemar p-values, paired bootstrap intervals and the pair-by-pair comparison."""

from __future__ import annotations

import pytest
from helpers import make_document as document
from helpers import outcome

from mediconfusion_tests.results.comparison import Identity, compare
from mediconfusion_tests.scoring.paired import Discordance, mcnemar_exact, paired_bootstrap

scipy_stats = pytest.importorskip("scipy.stats")


@pytest.mark.parametrize(("b", "c"), [(0, 0), (1, 0), (0, 1), (5, 1), (10, 3), (3, 10), (20, 20), (0, 12), (50, 30)])
def test_mcnemar_matches_scipy_binomtest(b: int, c: int) -> None:
    expected = 1.0 if b + c == 0 else scipy_stats.binomtest(b, b + c, 0.5, alternative="two-sided").pvalue
    assert mcnemar_exact(b, c) == pytest.approx(expected, rel=1e-12)


def test_discordance_counts() -> None:
    table = Discordance.of([True, True, False, False, True], [True, False, True, False, False])
    assert (table.both, table.baseline_only, table.new_only, table.neither) == (1, 2, 1, 1)
    assert table.p_value == pytest.approx(1.0)


def test_bootstrap_is_seeded_and_zero_for_identical_runs() -> None:
    def same(chosen):
        return {"x": 0.0}

    assert paired_bootstrap(50, same) == {"x": (0.0, 0.0)}
    values = [1, 0, 1, 1, 0, 0, 1, 0, 1, 1]

    def diff(chosen):
        return {"x": sum(values[i] for i in chosen) / len(chosen) - 0.5}

    assert paired_bootstrap(10, diff) == paired_bootstrap(10, diff)
    interval = paired_bootstrap(10, diff)["x"]
    assert interval is not None
    assert interval[0] <= 0.1 <= interval[1]


IDENTITY = Identity(dataset="d", mode="mc", prompt_set="p", answer_parser="paper", judge_threshold=None)


def runs(right: int, wrong: int, flip: set[int]) -> tuple[list, list]:
    base = [outcome(str(i), ("A", "B"), ("A", "B")) for i in range(right)]
    base += [outcome(str(right + i), ("A", "B"), ("A", "A")) for i in range(wrong)]
    new = [outcome(o.pair_id, o.truth, ("B", "B") if int(o.pair_id) in flip else o.decisions) for o in base]
    return base, new


def test_identical_runs_show_no_regression() -> None:
    base, _ = runs(30, 10, set())
    comparison = compare(document(base), base, IDENTITY)
    assert comparison.regressions == []
    assert comparison.improvements == []
    assert comparison.set_correct.p_value == 1.0
    assert comparison.difference("set_accuracy") == 0.0
    assert comparison.intervals["set_accuracy"] == (0.0, 0.0)
    assert comparison.mismatches == []


def test_constructed_regression_is_found_and_significant() -> None:
    base, new = runs(30, 10, set(range(8)))
    comparison = compare(document(base), new, IDENTITY)
    assert [f.pair_id for f in comparison.regressions] == [str(i) for i in range(8)]
    assert comparison.set_correct.p_value == pytest.approx(mcnemar_exact(8, 0))
    assert comparison.set_correct.p_value < 0.05
    assert comparison.difference("set_accuracy") == pytest.approx(-8 / 40)
    interval = comparison.intervals["set_accuracy"]
    assert interval is not None
    assert interval[0] <= -8 / 40 <= interval[1] < 0
    assert comparison.regressions[0].baseline.decisions == ["A", "B"]
    assert comparison.regressions[0].new.decisions == ["B", "B"]


def test_constructed_improvement_is_the_mirror_image() -> None:
    base, new = runs(30, 10, set(range(8)))
    comparison = compare(document(new), base, IDENTITY)
    assert len(comparison.improvements) == 8
    assert comparison.regressions == []
    assert not comparison.regressed


def test_what_makes_runs_incomparable() -> None:
    base, _ = runs(5, 0, set())
    mismatched = compare(document(base, mode="greedy"), [*base, outcome("99")], IDENTITY)
    assert "mode: baseline 'greedy', this run 'mc'" in mismatched.mismatches
    assert "pairs: 1 scored by this run but not by the baseline (99)" in mismatched.mismatches
