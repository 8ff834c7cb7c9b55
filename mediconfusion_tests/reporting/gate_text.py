"""A gate condition's result in one line of words, for the terminal and summaries."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mediconfusion_tests.results.gate import ConditionRecord


def describe(condition: ConditionRecord) -> str:
    """PASS set_accuracy = 0.1875 [95% CI 0.066-0.430] (n=16); threshold >= 0.25"""
    verdict = "PASS" if condition.passed else "FAIL"
    if condition.detail is not None:
        return f"{verdict} {condition.condition}: {condition.detail}"
    scope = ".".join(part for part in (condition.probe, condition.category) if part)
    name = f"{scope}.{condition.metric}" if scope else str(condition.metric)
    label = name if condition.bound in (None, "value") else f"{name}.{condition.bound}"
    if condition.threshold is not None:
        target = f"{condition.op} {condition.threshold:.4g}"
    else:
        target = f"{condition.op} baseline (undefined)"
    if condition.relative_to_baseline and condition.baseline is not None and condition.threshold is not None:
        offset = condition.threshold - condition.baseline
        target += f" (baseline {condition.baseline:.4f} {'+' if offset >= 0 else '-'} {abs(offset):.4g})"
    if condition.value is None:
        why = "the probe was not run" if condition.probe and not condition.n else "no pairs to measure it on"
        return f"{verdict} {label} is undefined ({why}); needs {target}"
    ci = f" [95% CI {condition.ci95[0]:.3f}-{condition.ci95[1]:.3f}]" if condition.ci95 else ""
    return f"{verdict} {label} = {condition.value:.4f}{ci} (n={condition.n}); threshold {target}"
