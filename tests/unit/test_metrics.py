from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest
from helpers import outcome
from hypothesis import given
from hypothesis import strategies as st

from mediconfusion_tests.data.files import read_pairs
from mediconfusion_tests.scoring.harness import total_table
from mediconfusion_tests.scoring.letters import LETTERS, Letter
from mediconfusion_tests.scoring.metrics import METRIC_NAMES, category_names, compute_metrics
from mediconfusion_tests.scoring.outcome import PairOutcome

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture
def four_pairs() -> list[PairOutcome]:
    return [
        outcome("p1", ("A", "B"), ("A", "B"), (("Cerebral",), ("Cerebral", "Vascular"))),
        outcome("p2", ("B", "A"), ("B", "B"), (("Cerebral",), ("Cerebral",))),
        outcome("p3", ("A", "B"), (None, "B"), (("Pulmonary",), ("Cardiac",))),
        outcome("p4", ("B", "A"), ("A", "B"), (("Vascular",), ("Vascular",))),
    ]


def test_overall_figures_by_hand(four_pairs: list[PairOutcome]) -> None:
    overall = compute_metrics(four_pairs).overall
    assert (overall.set_accuracy.k, overall.set_accuracy.n) == (1, 4)
    assert (overall.individual_accuracy.k, overall.individual_accuracy.n) == (4, 8)
    assert (overall.confusion.k, overall.confusion.n) == (1, 3)
    assert (overall.invalid_rate.k, overall.invalid_rate.n) == (1, 8)
    assert (overall.precision.k, overall.precision.n) == (1, 2)
    assert (overall.pairs, overall.images, overall.valid_pairs) == (4, 8, 3)


def test_paper_category_figures_by_hand(four_pairs: list[PairOutcome]) -> None:
    categories = compute_metrics(four_pairs).categories
    assert list(categories) == ["Cerebral", "Vascular", "Cardiac", "Pulmonary"]
    cerebral = categories["Cerebral"].paper
    assert cerebral.images == 4
    assert cerebral.set_accuracy.value == 0.5
    assert cerebral.individual_accuracy.value == 0.75
    assert (cerebral.confusion.k, cerebral.confusion.n) == (2, 4)
    vascular = categories["Vascular"].paper
    assert (vascular.images, vascular.set_accuracy.k, vascular.individual_accuracy.k) == (3, 1, 1)
    assert (vascular.confusion.k, vascular.confusion.n) == (0, 3)
    pulmonary = categories["Pulmonary"].paper
    assert pulmonary.invalid_rate.value == 1.0
    assert pulmonary.confusion.value is None  # no valid pair carries it
    assert categories["Cardiac"].paper.individual_accuracy.value == 1.0


def test_pair_level_category_figures_count_each_pair_once(four_pairs: list[PairOutcome]) -> None:
    categories = compute_metrics(four_pairs).categories
    cerebral = categories["Cerebral"].pair_level
    assert (cerebral.pairs, cerebral.set_accuracy.k, cerebral.confusion.k, cerebral.confusion.n) == (2, 1, 1, 2)
    vascular = categories["Vascular"].pair_level
    assert (vascular.pairs, vascular.set_accuracy.k, vascular.confusion.k) == (2, 1, 0)


def test_errored_pairs_are_left_out(four_pairs: list[PairOutcome]) -> None:
    errored = PairOutcome("p5", (("Cerebral",), ("Cerebral",)), ("A", "B"), None, error="RuntimeError: boom")
    assert compute_metrics([*four_pairs, errored]) == compute_metrics(four_pairs)


def test_metrics_are_defined_on_empty_input() -> None:
    metrics = compute_metrics([])
    assert metrics.overall.set_accuracy.value is None
    assert metrics.categories == {}


CATEGORY_LISTS = st.lists(st.sampled_from(["Cerebral", "Vascular", "Spinal", "Cardiac"]), min_size=1, max_size=3)
LETTER_OR_NONE = st.sampled_from(["A", "B", None])


TRUTH_AB: tuple[Letter, Letter] = ("A", "B")
TRUTH_BA: tuple[Letter, Letter] = ("B", "A")


@st.composite
def outcomes(draw: st.DrawFn, decision: st.SearchStrategy = LETTER_OR_NONE) -> list[PairOutcome]:
    count = draw(st.integers(0, 25))
    out = []
    for index in range(count):
        truth = draw(st.sampled_from([TRUTH_AB, TRUTH_BA]))
        cats = (tuple(draw(CATEGORY_LISTS)), tuple(draw(CATEGORY_LISTS)))
        out.append(outcome(str(index), truth, (draw(decision), draw(decision)), cats))
    return out


@given(outcomes(), st.sampled_from(LETTERS))
def test_always_the_same_letter_is_never_set_correct_and_always_confused(pairs: list, letter: Letter) -> None:
    same = [outcome(o.pair_id, o.truth, (letter, letter), o.categories) for o in pairs]
    metrics = compute_metrics(same)
    if not same:
        return
    assert metrics.overall.set_accuracy.value == 0
    assert metrics.overall.confusion.value == 1
    assert metrics.overall.individual_accuracy.value == 0.5
    for category in metrics.categories.values():
        assert category.paper.set_accuracy.value == 0
        assert category.paper.confusion.value == 1


@given(outcomes())
def test_every_proportion_is_bounded(pairs: list[PairOutcome]) -> None:
    metrics = compute_metrics(pairs)
    figures = [metrics.overall] + [f for c in metrics.categories.values() for f in (c.paper, c.pair_level)]
    for fig in figures:
        for name in METRIC_NAMES:
            p = fig.get(name)
            assert 0 <= p.k <= p.n
            if p.value is not None:
                assert 0.0 <= p.value <= 1.0
        set_value, image_value = fig.set_accuracy.value, fig.individual_accuracy.value
        assert set_value is None or (image_value is not None and set_value <= image_value)


@given(outcomes())
def test_swapping_the_two_images_changes_nothing(pairs: list[PairOutcome]) -> None:
    swapped = [o.swapped() for o in pairs]
    assert compute_metrics(swapped) == compute_metrics(pairs)


@given(outcomes())
def test_paper_figures_agree_with_the_harness_tables(pairs: list[PairOutcome]) -> None:
    metrics = compute_metrics(pairs)
    names = category_names(pairs)
    table = total_table(pairs, names)
    assert table["set_score"]["total"] == metrics.overall.set_accuracy.k
    assert table["individual_score"]["total"] == metrics.overall.individual_accuracy.k
    assert table["valids"]["total"] == metrics.overall.valid_pairs
    for name, category in metrics.categories.items():
        paper = category.paper
        assert table["set_score"][name] == paper.set_accuracy.k
        assert table["individual_score"][name] == paper.individual_accuracy.k
        assert table["invalid"][name] == paper.invalid_rate.k
        assert table["confused"][name] == paper.confusion.k
        assert table["valids"][name] == paper.confusion.n
        assert table["valid_pairs"][name] == paper.precision.n


def test_category_image_counts_match_the_published_statistics(shared_dir: Path) -> None:
    pairs = read_pairs(shared_dir / "dataset.json")
    dummy = [outcome(p.id, p.truth, p.truth, p.categories) for p in pairs]
    metrics = compute_metrics(dummy)
    statistics = json.loads((shared_dir / "statistics.json").read_text())
    assert {name: c.paper.images for name, c in metrics.categories.items()} == statistics
    assert list(metrics.categories)[:3] == ["Cerebral", "Vascular", "Head and Neck"]
    assert metrics.overall.set_accuracy.value == 1.0
