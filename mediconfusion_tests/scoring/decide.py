"""From a model's answer to a decision, by answering mode."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mediconfusion_tests.scoring.judge import judge_letter
from mediconfusion_tests.scoring.letters import LETTERS, Letter

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from mediconfusion_tests.scoring.parse import Parser


def decide(
    mode: str,
    text: str | None,
    scores: Mapping[str, float],
    letter: str | None,
    options: Sequence[str],
    parser: Parser,
    judge_threshold: float,
) -> Letter | None:
    """mc parses the text; greedy/prefix take the model's letter (else parse);
    freeform applies the judge threshold to the A/B scores."""
    if mode == "freeform":
        return judge_letter(scores.get("A"), scores.get("B"), judge_threshold)
    if mode in ("greedy", "prefix") and letter in LETTERS:
        return "A" if letter == "A" else "B"
    return parser(text, options)
