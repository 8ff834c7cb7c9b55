"""The harness's threshold rule for judge scores (free-form answers)."""

from __future__ import annotations

import math

from mediconfusion_tests.scoring.letters import Letter

DEFAULT_THRESHOLD = 3.0


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return None if math.isnan(value) else float(value)


def judge_letter(score_a: object, score_b: object, threshold: float = DEFAULT_THRESHOLD) -> Letter | None:
    """A when A >= B + threshold, B when B >= A + threshold, otherwise invalid."""
    a, b = _number(score_a), _number(score_b)
    if a is None or b is None:
        return None
    if a >= b + threshold:
        return "A"
    if b >= a + threshold:
        return "B"
    return None
