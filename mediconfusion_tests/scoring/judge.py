"""The harness's threshold rule for judge scores (free-form answers)."""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
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


_SCORE = {letter: re.compile(rf"^\W*{letter}\W*[:=]\s*(\d+(?:\.\d+)?)", re.MULTILINE) for letter in ("A", "B")}


def parse_judge_scores(text: object) -> dict[str, float]:
    """{"A": score, "B": score} from a judge's reply ("A: 7" and "B: 2" lines); {} when either is missing."""
    if not isinstance(text, str):
        return {}
    scores = {}
    for letter, pattern in _SCORE.items():
        match = pattern.search(text)
        if match is None:
            return {}
        scores[letter] = float(match.group(1))
    return scores
