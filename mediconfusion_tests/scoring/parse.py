"""Turn a model's free text into a decision: "A", "B", or None (invalid).

``paper`` reproduces the MediConfusion harness exactly; ``robust`` also reads
answers that the paper's token list misses. Neither parser ever raises.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from mediconfusion_tests.scoring.letters import LETTERS, Letter

Parser = Callable[[object, Sequence[str]], "Letter | None"]


def _paper_tokens(letter: str) -> frozenset[str]:
    # The harness also lists "L\n" and "\nL", which can never match after
    # newlines become spaces, so they are left out without changing a decision.
    return frozenset(
        {
            letter,
            f"{letter}:",
            f".{letter}",
            f".{letter}:",
            f"{letter}.",
            f'{letter}")',
            f'("{letter}":',
            f'("{letter}")',
            f'("{letter}").',
        }
    )


_PAPER_TOKENS = {letter: _paper_tokens(letter) for letter in LETTERS}


def paper_letter(answer: object, options: Sequence[str] = ()) -> Letter | None:
    """The harness rule: split on single spaces; exactly one letter present wins."""
    if not isinstance(answer, str):
        return None
    tokens = set(answer.replace("\n", " ").split(" "))
    found = [letter for letter in LETTERS if tokens & _PAPER_TOKENS[letter]]
    return found[0] if len(found) == 1 else None


_MARKUP = re.compile(r"[*_`#]+")
_CUE = re.compile(
    r"(?i:\b(?:answer|option|choice)\b)\s*(?i:is|would be|should be)?\s*[:=\-]?\s*"
    r"[\(\[\"'“]?\s*([AB])(?![A-Za-z0-9])"
)
_LEADING = re.compile(r"^[\s\(\[\"'“]*([AB])(?:\s*$|[\)\]\.:,\"'”]|\s+[-–—]\s)")
_BRACKETED = re.compile(r"[\(\[]([AB])[\)\]]")
_NON_WORD = re.compile(r"[^a-z0-9]+")


def _unique(letters: Sequence[str]) -> Letter | None:
    distinct = set(letters)
    if len(distinct) == 1:
        letter = distinct.pop()
        return "A" if letter == "A" else "B"
    return None


def _normalise(text: str) -> str:
    return " " + _NON_WORD.sub(" ", text.lower()).strip() + " "


def _option_letter(answer: str, options: Sequence[str]) -> Letter | None:
    if len(options) != 2:
        return None
    norm_answer = _normalise(answer)
    norm_options = [_normalise(option) for option in options]
    if any(option.strip() == "" for option in norm_options):
        return None
    present = [option in norm_answer for option in norm_options]
    if present == [True, False]:
        return "A"
    if present == [False, True]:
        return "B"
    if present == [True, True]:
        # "No fracture" contains "fracture": the longer option explains the shorter.
        a, b = norm_options
        if a in b and a != b:
            return "B"
        if b in a and a != b:
            return "A"
    return None


def robust_letter(answer: object, options: Sequence[str] = ()) -> Letter | None:
    """Explicit cues, a leading letter, the paper rule, then the option text itself."""
    if not isinstance(answer, str):
        return None
    text = _MARKUP.sub("", answer).strip()
    cued = _unique(_CUE.findall(text))
    if cued is not None:
        return cued
    leading = _LEADING.match(text)
    if leading is not None:
        return "A" if leading.group(1) == "A" else "B"
    for candidate in (paper_letter(text), _option_letter(text, options)):
        if candidate is not None:
            return candidate
    return _unique(_BRACKETED.findall(text))


PARSERS: dict[str, Parser] = {"paper": paper_letter, "robust": robust_letter}


def get_parser(name: str) -> Parser:
    try:
        return PARSERS[name]
    except KeyError:
        raise ValueError(f"unknown answer parser {name!r}; choose from {', '.join(PARSERS)}") from None
