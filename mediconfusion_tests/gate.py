"""Release-gate conditions: ``[Category.]metric op value``, values as fractions.

Category conditions use the paper's (image-weighted) figures for that
category, the same numbers as the paper's per-category table.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from mediconfusion_tests.errors import ConfigError
from mediconfusion_tests.scoring.metrics import Metrics

GATE_METRICS = ("set_accuracy", "individual_accuracy", "confusion", "invalid_rate")
OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
    "==": operator.eq,
}
_PATTERN = re.compile(
    r"^\s*(?:(?P<category>.+?)\s*\.\s*)?(?P<metric>[a-z_]+)\s*(?P<op>>=|<=|==|>|<)\s*"
    r"(?P<value>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$"
)


@dataclass(frozen=True)
class Condition:
    text: str
    metric: str
    op: str
    threshold: float
    category: str | None = None

    @property
    def label(self) -> str:
        return f"{self.category}.{self.metric}" if self.category else self.metric


def parse_condition(text: str) -> Condition:
    match = _PATTERN.match(text)
    if match is None:
        raise ConfigError(
            f"malformed gate {text!r}: expected [Category.]metric OP value, e.g. "
            f"'set_accuracy>=0.25' or 'Cerebral.confusion<=0.6'; OP is one of {', '.join(OPERATORS)}"
        )
    metric = match["metric"]
    if metric not in GATE_METRICS:
        raise ConfigError(f"gate {text!r}: unknown metric {metric!r}; choose from {', '.join(GATE_METRICS)}")
    value = float(match["value"])
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"gate {text!r}: {value:g} is not a fraction in [0, 1] (write 0.25, not 25)")
    return Condition(text.strip(), metric, match["op"], value, match["category"])


def resolve_categories(conditions: Sequence[Condition], known: Sequence[str]) -> list[Condition]:
    """Match category names case-insensitively (also with _ for spaces); unknown ones are an error."""
    lookup = {name.lower(): name for name in known}
    lookup.update({name.lower().replace(" ", "_"): name for name in known})
    resolved = []
    for condition in conditions:
        if condition.category is None:
            resolved.append(condition)
            continue
        name = lookup.get(condition.category.lower())
        if name is None:
            raise ConfigError(
                f"gate {condition.text!r}: unknown category {condition.category!r}; the dataset has {', '.join(known)}"
            )
        resolved.append(Condition(condition.text, condition.metric, condition.op, condition.threshold, name))
    return resolved


@dataclass(frozen=True)
class ConditionResult:
    condition: Condition
    value: float | None
    interval: tuple[float, float] | None
    n: int
    passed: bool

    def describe(self) -> str:
        c = self.condition
        verdict = "PASS" if self.passed else "FAIL"
        if self.value is None:
            return f"{verdict} {c.label} is undefined (no pairs to measure it on); needs {c.op} {c.threshold:g}"
        ci = f" [95% CI {self.interval[0]:.3f}-{self.interval[1]:.3f}]" if self.interval else ""
        return f"{verdict} {c.label} = {self.value:.4f}{ci} (n={self.n}); threshold {c.op} {c.threshold:g}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "condition": self.condition.text,
            "metric": self.condition.metric,
            "category": self.condition.category,
            "op": self.condition.op,
            "threshold": self.condition.threshold,
            "value": self.value,
            "ci95": list(self.interval) if self.interval else None,
            "n": self.n,
            "passed": self.passed,
        }


def evaluate(conditions: Sequence[Condition], metrics: Metrics) -> list[ConditionResult]:
    results = []
    for condition in conditions:
        figures = metrics.categories.get(condition.category) if condition.category else None
        if condition.category and figures is None:
            # The category exists in the dataset but no scored pair carries it.
            results.append(ConditionResult(condition, None, None, 0, False))
            continue
        proportion = metrics.figures(condition.category).get(condition.metric)
        value = proportion.value
        passed = value is not None and OPERATORS[condition.op](value, condition.threshold)
        results.append(ConditionResult(condition, value, proportion.interval, proportion.n, passed))
    return results
