from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mediconfusion_tests.scoring.judge import judge_letter
from mediconfusion_tests.scoring.stats import Proportion, wilson_interval


@pytest.mark.parametrize(
    ("a", "b", "threshold", "expected"),
    [
        (10, 0, 3, "A"),
        (0, 10, 3, "B"),
        (8, 5, 3, "A"),  # exactly the threshold decides
        (7, 5, 3, None),
        (5, 5, 0, "A"),  # threshold 0: a tie goes to A, as in the harness
        (9, 2, 8, None),
        (None, 3, 3, None),
        (float("nan"), 1, 3, None),
        (True, 0, 0, None),  # booleans are not scores
    ],
)
def test_judge_threshold_rule(a: object, b: object, threshold: float, expected: str | None) -> None:
    assert judge_letter(a, b, threshold) == expected


@given(st.integers(1, 10), st.integers(1, 10), st.integers(0, 9))
def test_judge_is_symmetric(a: int, b: int, threshold: int) -> None:
    swapped = {"A": "B", "B": "A", None: None}
    if a == b and threshold == 0:
        return  # the tie rule favours A by definition
    assert judge_letter(b, a, threshold) == swapped[judge_letter(a, b, threshold)]


@pytest.mark.parametrize(
    ("k", "n", "low", "high"),
    [
        (5, 10, 0.236593, 0.763407),
        (0, 10, 0.0, 0.277533),
        (10, 10, 0.722467, 1.0),
        (44, 176, 0.19183, 0.31885),  # reference values: scipy.stats.binomtest(...).proportion_ci("wilson")
        (1, 176, 0.001004, 0.031477),
    ],
)
def test_wilson_matches_reference_values(k: int, n: int, low: float, high: float) -> None:
    interval = wilson_interval(k, n)
    assert interval is not None
    assert interval[0] == pytest.approx(low, abs=1e-5)
    assert interval[1] == pytest.approx(high, abs=1e-5)


def test_proportion_is_defined_on_empty_input() -> None:
    empty = Proportion.of(0, 0)
    assert empty.value is None
    assert empty.ci95 is None
    assert empty.model_dump() == {"value": None, "k": 0, "n": 0, "ci95": None}


@given(st.integers(0, 500), st.integers(1, 500))
def test_wilson_contains_the_estimate(k: int, n: int) -> None:
    k = min(k, n)
    low, high = wilson_interval(k, n) or (math.nan, math.nan)
    assert 0.0 <= low <= k / n <= high <= 1.0


def test_wilson_rejects_impossible_counts() -> None:
    with pytest.raises(ValueError, match="outside"):
        wilson_interval(11, 10)
