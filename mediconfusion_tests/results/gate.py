"""Release-gate conditions.

``[Category.]metric[.lower|.upper] OP value`` where value is a fraction, or
``baseline`` with an optional ``+``/``-`` offset (needs --baseline). ``.lower``
and ``.upper`` read the bound of the 95% interval instead of the estimate, so
``set_accuracy.lower>=0.20`` passes only when the data rule out less than 20%.
Category conditions use the paper's (image-weighted) figures for that category.
Probe conditions read a probe's consistency: ``order.consistency>=0.9``,
``image.Cerebral.consistency.lower>=0.8``, ``paraphrase.consistency>=baseline-0.05``.
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from mediconfusion_tests.errors import ConfigError
from mediconfusion_tests.records import Record
from mediconfusion_tests.scoring.metrics import Metrics, gateable_metrics

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from mediconfusion_tests.scoring.probes import ProbeFigures
    from mediconfusion_tests.scoring.stats import Proportion

#: Read from a probe's roll-up (--probes); the condition names the probe where others name a category.
PROBE_METRICS = ("consistency",)
BOUNDS = ("value", "lower", "upper")
OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
    "==": operator.eq,
}
_NUMBER = r"(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"


def gate_metrics() -> tuple[str, ...]:
    """The metrics a gate may name: the paper's, the registered ones (scoring/metrics.py METRICS), probes'."""
    return (*gateable_metrics(), *PROBE_METRICS)


def _pattern(metrics: tuple[str, ...] | None) -> re.Pattern[str]:
    """The gate grammar; with ``metrics`` None any name stands for the metric (the syntax alone)."""
    if metrics is None:
        names = r"[A-Za-z_][A-Za-z0-9_]*"
    else:
        names = "|".join(re.escape(name) for name in sorted(metrics, key=len, reverse=True))
    return re.compile(
        rf"^\s*(?:(?P<category>.+?)\s*\.\s*)?(?P<metric>{names})(?:\.(?P<bound>lower|upper))?"
        rf"\s*(?P<op>>=|<=|==|>|<)\s*"
        rf"(?:(?P<baseline>baseline)\s*(?:(?P<sign>[-+])\s*(?P<offset>{_NUMBER}))?|(?P<value>[-+]?{_NUMBER}))\s*$"
    )


_LOOSE = re.compile(r"^\s*(?:.+?\.)?(?P<metric>[A-Za-z_]+)(?:\.(?:lower|upper))?\s*(?:>=|<=|==|>|<)")


@dataclass(frozen=True)
class Condition:
    text: str
    metric: str
    op: str
    threshold: float
    category: str | None = None
    bound: str = "value"
    #: The threshold is the baseline's figure plus ``threshold`` (an offset).
    relative: bool = False
    #: For probe metrics: which probe.
    probe: str | None = None

    @property
    def label(self) -> str:
        scope = ".".join(part for part in (self.probe, self.category) if part)
        name = f"{scope}.{self.metric}" if scope else self.metric
        return name if self.bound == "value" else f"{name}.{self.bound}"


def check_syntax(text: str) -> None:
    """ConfigError for a gate that is malformed whatever metrics get registered (read as options are)."""
    if _pattern(None).match(text) is None:
        parse_condition(text)


def parse_condition(text: str) -> Condition:
    metrics = gate_metrics()
    match = _pattern(metrics).match(text)
    if match is None:
        loose = _LOOSE.match(text)
        if loose is not None and loose["metric"] not in metrics + BOUNDS:
            raise ConfigError(f"gate {text!r}: unknown metric {loose['metric']!r}; choose from {', '.join(metrics)}")
        raise ConfigError(
            f"malformed gate {text!r}: expected [Category.]metric[.lower|.upper] OP value, where value is a "
            f"fraction or baseline[+-offset], e.g. 'set_accuracy>=0.25', 'set_accuracy.lower>=0.2', "
            f"'set_accuracy>=baseline-0.02'; OP is one of {', '.join(OPERATORS)}"
        )
    bound = match["bound"] or "value"
    if match["baseline"]:
        offset = float(match["offset"] or 0.0) * (-1 if match["sign"] == "-" else 1)
        if not -1.0 <= offset <= 1.0:
            raise ConfigError(f"gate {text!r}: the offset {offset:g} is not a fraction (write 0.02, not 2)")
        return Condition(text.strip(), match["metric"], match["op"], offset, match["category"], bound, True)
    value = float(match["value"])
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"gate {text!r}: {value:g} is not a fraction in [0, 1] (write 0.25, not 25)")
    return Condition(text.strip(), match["metric"], match["op"], value, match["category"], bound)


def _probe_scope(condition: Condition) -> Condition:
    from mediconfusion_tests.scoring.probes import PROBES

    probe, _, category = (condition.category or "").partition(".")
    if probe not in PROBES:
        raise ConfigError(
            f"gate {condition.text!r}: {condition.metric} is a probe's metric: write PROBE.{condition.metric} "
            f"or PROBE.Category.{condition.metric}, with PROBE one of {', '.join(PROBES)}"
        )
    return replace(condition, probe=probe, category=category.strip() or None)


def resolve_categories(conditions: Sequence[Condition], known: Sequence[str]) -> list[Condition]:
    """Match category names case-insensitively (also with _ for spaces); unknown ones are an error."""
    lookup = {name.lower(): name for name in known}
    lookup.update({name.lower().replace(" ", "_"): name for name in known})
    resolved = []
    for condition in conditions:
        if condition.metric in PROBE_METRICS:
            condition = _probe_scope(condition)
        if condition.category is None:
            resolved.append(condition)
            continue
        name = lookup.get(condition.category.lower())
        if name is None:
            raise ConfigError(
                f"gate {condition.text!r}: unknown category {condition.category!r}; the dataset has {', '.join(known)}"
            )
        resolved.append(replace(condition, category=name))
    return resolved


def _read(proportion: Proportion, bound: str) -> float | None:
    if bound == "value" or proportion.ci95 is None:
        return proportion.value if bound == "value" else None
    return proportion.ci95[0] if bound == "lower" else proportion.ci95[1]


class ConditionRecord(Record):
    """A gate condition or check as it was judged: the same value at run time and in results.json."""

    condition: str
    passed: bool
    value: float | None = None
    n: int | None = None
    metric: str | None = None
    category: str | None = None
    #: A probe's condition (--probes): which probe.
    probe: str | None = None
    bound: str | None = None
    op: str | None = None
    threshold: float | None = None
    relative_to_baseline: bool | None = None
    baseline: float | None = None
    ci95: tuple[float, float] | None = None
    #: Checks that are not a metric threshold (significance, regressed pairs) say why in words.
    detail: str | None = None


def judged(
    condition: Condition,
    proportion: Proportion | None,
    value: float | None,
    passed: bool,
    threshold: float | None,
    reference: float | None = None,
) -> ConditionRecord:
    return ConditionRecord(
        condition=condition.text,
        metric=condition.metric,
        category=condition.category,
        probe=condition.probe,
        bound=condition.bound,
        op=condition.op,
        threshold=threshold,
        relative_to_baseline=condition.relative,
        baseline=reference,
        value=value,
        ci95=None if proportion is None else proportion.ci95,
        n=0 if proportion is None else proportion.n,
        passed=passed,
    )


def check(label: str, passed: bool, detail: str) -> ConditionRecord:
    """A gate check that is not a metric threshold: significance, regressed pairs."""
    return ConditionRecord(condition=label, passed=passed, detail=detail)


def _probe_proportion(probes: Mapping[str, ProbeFigures] | None, condition: Condition) -> Proportion | None:
    figures = (probes or {}).get(condition.probe or "")
    if figures is None:
        return None  # the probe was not run (or not selected)
    if condition.category:
        return figures.categories.get(condition.category)
    return figures.consistency


def _proportion(metrics: Metrics, condition: Condition) -> Proportion | None:
    if condition.category and condition.category not in metrics.categories:
        return None  # the category exists in the dataset but no scored pair carries it
    return metrics.figures(condition.category).get(condition.metric)


def evaluate(
    conditions: Sequence[Condition],
    metrics: Metrics,
    baseline: Metrics | None = None,
    paired: Metrics | None = None,
    probes: Mapping[str, ProbeFigures] | None = None,
    baseline_probes: Mapping[str, ProbeFigures] | None = None,
) -> list[ConditionRecord]:
    """Absolute conditions read ``metrics``; baseline-relative ones compare ``paired`` (this run on the
    pairs both runs scored) with ``baseline`` (the baseline run on the same pairs). Probe conditions read
    ``probes``, and relative ones the baseline run's own probe figures."""
    results = []
    for condition in conditions:
        if condition.probe is not None:
            results.append(_probe_result(condition, probes, baseline_probes))
            continue
        own = paired if condition.relative and paired is not None else metrics
        proportion = _proportion(own, condition)
        if proportion is None:
            absolute = None if condition.relative else condition.threshold
            results.append(judged(condition, None, None, False, absolute))
            continue
        value = _read(proportion, condition.bound)
        reference = None
        if condition.relative:
            base = _proportion(baseline, condition) if baseline is not None else None
            reference = _read(base, condition.bound) if base is not None else None
            threshold = None if reference is None else reference + condition.threshold
        else:
            threshold = condition.threshold
        passed = value is not None and threshold is not None and OPERATORS[condition.op](value, threshold)
        results.append(judged(condition, proportion, value, passed, threshold, reference))
    return results


def _probe_result(
    condition: Condition,
    probes: Mapping[str, ProbeFigures] | None,
    baseline_probes: Mapping[str, ProbeFigures] | None,
) -> ConditionRecord:
    proportion = _probe_proportion(probes, condition)
    value = None if proportion is None else _read(proportion, condition.bound)
    reference = None
    if condition.relative:
        base = _probe_proportion(baseline_probes, condition)
        reference = None if base is None else _read(base, condition.bound)
        threshold = None if reference is None else reference + condition.threshold
    else:
        threshold = condition.threshold
    passed = value is not None and threshold is not None and OPERATORS[condition.op](value, threshold)
    return judged(condition, proportion, value, passed, threshold, reference)
