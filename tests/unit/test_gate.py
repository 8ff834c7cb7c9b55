from __future__ import annotations

import pytest
from helpers import outcome

from mediconfusion_tests.errors import ConfigError
from mediconfusion_tests.reporting.gate_text import describe
from mediconfusion_tests.results.gate import evaluate, parse_condition, resolve_categories
from mediconfusion_tests.scoring.metrics import compute_metrics


@pytest.mark.parametrize(
    ("text", "category", "metric", "op", "value"),
    [
        ("set_accuracy>=0.25", None, "set_accuracy", ">=", 0.25),
        (" confusion <= .6 ", None, "confusion", "<=", 0.6),
        ("Cerebral.set_accuracy>=0.2", "Cerebral", "set_accuracy", ">=", 0.2),
        ("Head and Neck.invalid_rate<0.1", "Head and Neck", "invalid_rate", "<", 0.1),
        ("individual_accuracy==1", None, "individual_accuracy", "==", 1.0),
    ],
)
def test_parse(text: str, category: str | None, metric: str, op: str, value: float) -> None:
    condition = parse_condition(text)
    assert (condition.category, condition.metric, condition.op, condition.threshold) == (category, metric, op, value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("set_accuracy", "malformed gate"),
        ("set_accuracy => 0.2", "malformed gate"),
        ("accuracy>=0.2", "unknown metric 'accuracy'"),
        ("set_accuracy>=25", "not a fraction"),
        ("set_accuracy>=-0.1", "not a fraction"),
    ],
)
def test_malformed_gates_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_condition(text)


def test_categories_match_case_insensitively_and_with_underscores() -> None:
    known = ["Cerebral", "Head and Neck"]
    resolved = resolve_categories(
        [parse_condition("cerebral.confusion<=0.5"), parse_condition("head_and_neck.set_accuracy>=0.1")], known
    )
    assert [c.category for c in resolved] == ["Cerebral", "Head and Neck"]
    with pytest.raises(ConfigError, match="unknown category 'Brain'; the dataset has Cerebral, Head and Neck"):
        resolve_categories([parse_condition("Brain.confusion<=0.5")], known)


def test_evaluate_reports_value_interval_and_verdict() -> None:
    metrics = compute_metrics(
        [
            outcome("1", ("A", "B"), ("A", "B")),
            outcome("2", ("A", "B"), ("A", "A")),
            outcome("3", ("B", "A"), ("B", "B")),
        ]
    )
    conditions = ["set_accuracy>=0.3", "confusion<0.5", "Cerebral.set_accuracy>=0.1"]
    passed, failed, cerebral = evaluate([parse_condition(c) for c in conditions], metrics)
    assert (passed.passed, passed.n) == (True, 3)
    assert passed.value == pytest.approx(1 / 3)
    assert not failed.passed
    assert failed.value == pytest.approx(2 / 3)
    assert "FAIL confusion = 0.6667 [95% CI" in describe(failed)
    assert cerebral.passed  # paper figure: one set-correct pair adds 2 of the 6 Cerebral images
    assert cerebral.value == pytest.approx(2 / 6)


def test_condition_on_an_unscored_category_fails_as_undefined() -> None:
    metrics = compute_metrics([outcome("1", ("A", "B"), ("A", "B"))])
    (result,) = evaluate([parse_condition("Spinal.set_accuracy>=0.1")], metrics)
    assert not result.passed
    assert "undefined" in describe(result)


@pytest.mark.parametrize(
    ("text", "bound", "relative", "threshold"),
    [
        ("set_accuracy.lower>=0.2", "lower", False, 0.2),
        ("confusion.upper<=0.6", "upper", False, 0.6),
        ("set_accuracy>=baseline", "value", True, 0.0),
        ("set_accuracy >= baseline - 0.02", "value", True, -0.02),
        ("Cerebral.confusion.upper<=baseline+0.05", "upper", True, 0.05),
    ],
)
def test_parse_bounds_and_baseline_thresholds(text: str, bound: str, relative: bool, threshold: float) -> None:
    condition = parse_condition(text)
    assert (condition.bound, condition.relative) == (bound, relative)
    assert condition.threshold == pytest.approx(threshold)


def test_lower_bound_and_baseline_relative_evaluation() -> None:
    run = compute_metrics([outcome(str(i), ("A", "B"), ("A", "B") if i < 6 else ("A", "A")) for i in range(10)])
    base = compute_metrics([outcome(str(i), ("A", "B"), ("A", "B") if i < 5 else ("A", "A")) for i in range(10)])
    lower, relative, too_strict = evaluate(
        [
            parse_condition("set_accuracy.lower>=0.25"),
            parse_condition("set_accuracy>=baseline+0.1"),
            parse_condition("set_accuracy>=baseline+0.2"),
        ],
        run,
        baseline=base,
        paired=run,
    )
    interval = run.overall.set_accuracy.ci95
    assert interval is not None
    assert lower.value == pytest.approx(interval[0])  # 6/10 -> Wilson lower 0.313
    assert lower.passed
    assert relative.passed
    assert relative.threshold == pytest.approx(0.6)
    assert not too_strict.passed
    assert "(baseline 0.5000 + 0.2)" in describe(too_strict)


def test_baseline_threshold_without_a_baseline_is_undefined() -> None:
    (result,) = evaluate([parse_condition("set_accuracy>=baseline")], compute_metrics([outcome()]))
    assert not result.passed
    assert result.threshold is None
