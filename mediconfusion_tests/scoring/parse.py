"""Turn a model's free text into a decision: "A", "B", or None (invalid).

``paper`` reproduces the MediConfusion harness exactly; ``robust`` also reads
answers that the paper's token list misses. Neither parser ever raises, and both
take time linear in the answer's length: no pattern here can backtrack over a run
of characters more than once (no two adjacent unbounded repeats), and what is
read around each mention of an option is a window of ``CONTEXT`` characters.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from mediconfusion_tests.extensions import Registry
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
#: "answer is A", "Answer: (B)", "option=A": each optional piece brings its own trailing spaces, so no
#: run of spaces can be split between two repeats.
_CUE = re.compile(
    r"(?i:\b(?:answer|option|choice)\b)\s*(?:(?i:is|would be|should be)\s*)?(?:[:=\-]\s*)?"
    r"(?:[\(\[\"'“]\s*)?([AB])(?![A-Za-z0-9])"
)
_LEADING = re.compile(r"^[\s\(\[\"'“]*([AB])(?:\s*$|[\)\]\.:,\"'”]|\s+[-–—]\s)")
_BRACKETED = re.compile(r"[\(\[]([AB])[\)\]]")
_NON_WORD = re.compile(r"[^a-z0-9]+")
_ARTICLE = re.compile(r"(?<![A-Za-z0-9])A(?= [a-z0-9])")
#: A letter written as an option label: bracketed, quoted, followed by . : ) or the end, or cued.
#: A bare capital A before a word ("A flap is visible") is the article, not a label.
_LABEL = re.compile(
    r"(?:[\(\[\"'“]\s*([AB])\s*[\)\]\"'”]"
    r"|(?<![A-Za-z0-9])([AB])(?=\s*[\.:\)\]]|\s*$|\s*,)"
    r"|(?<![A-Za-z0-9])([AB])(?=\s*(?:or|and|nor|vs\.?|versus|rather than|/|-|–|—)\s))"
)
#: Two letters joined as alternatives: "A or B", "A - or maybe B", "A/B", "either A or B".
_ALTERNATIVES = re.compile(
    r"(?<![A-Za-z0-9])([AB])[\)\]\"'”]?\s*(?:(?:or|and|nor|vs\.?|versus|rather than|than|/|,|-|–|—|maybe|"
    r"perhaps|possibly|probably)\s*)+[\(\[\"'“]?([AB])(?![A-Za-z0-9])",
    re.IGNORECASE,
)
#: The other option conceded beside the one chosen: "it could also be B", "B is also plausible",
#: "A (or possibly B)". The letter is group 1 (or 2); the answer is then a hedge.
_CONCEDED = re.compile(
    r"\b(?:could|might|may|can)\s+(?:also\s+|well\s+)?be\s+(?:option\s+)?[\(\[\"'“]?([AB])(?![A-Za-z0-9])"
    r"|(?<![A-Za-z0-9])[\(\[\"'“]?([AB])[\)\]\"'”]?\s+(?:is|seems|would be|could be|might be|may be)\s+"
    r"(?:also\s+|equally\s+)?(?:possible|plausible|likely|an option|correct too|right too|also)"
    r"|\bor\s+(?:possibly|perhaps|maybe|probably)\s+(?:option\s+)?[\(\[\"'“]?([AB])(?![A-Za-z0-9])"
)
#: Characters read before and after each mention of an option when deciding whether it is negated.
CONTEXT = 120
#: What, right after a named option, takes it back: "Effaced? No.", "A is incorrect".
_NEGATED_AFTER = re.compile(
    r"[\s\?\.,:;!\-–—\)\]\"'”]*(?:(?:no|nope)\s*(?:[\.\!,;]|$)|(?:is\s+)?(?:not\s+(?:correct|right|the\s+answer|it)"
    r"|incorrect|wrong|false)\b)",
    re.IGNORECASE,
)
#: What, right before a named option, negates it: "not A", "isn't option A".
_NEGATED_BEFORE = re.compile(
    r"(?:\bnot|n't|\bnor|\bneither|\bexcept)\s+(?:(?:the\s+)?(?:answer|option|choice)\s+(?:is\s+)?)?$", re.IGNORECASE
)


def _unique(letters: Sequence[str]) -> Letter | None:
    distinct = set(letters)
    if len(distinct) == 1:
        letter = distinct.pop()
        return "A" if letter == "A" else "B"
    return None


def _normalise(text: str) -> str:
    return " " + _NON_WORD.sub(" ", text.lower()).strip() + " "


def _options_named(answer: str, options: Sequence[str]) -> tuple[bool, bool]:
    """Which option texts the answer contains. An option inside the other ("Effaced" in "Not effaced")
    counts only where it stands outside the longer one: "Not effaced" names B alone,
    "Effaced rather than Not effaced" names both."""
    if len(options) != 2:
        return (False, False)
    text = _normalise(answer)
    a, b = (_normalise(option) for option in options)
    if not a.strip() or not b.strip():
        return (False, False)
    if a in b and a != b:
        return (text.replace(b, " ").count(a) > 0, b in text)
    if b in a and a != b:
        return (a in text, text.replace(a, " ").count(b) > 0)
    return (a in text, b in text)


def _option_letter(answer: str, options: Sequence[str]) -> Letter | None:
    named = _options_named(answer, options)
    if named == (True, False):
        return "A"
    if named == (False, True):
        return "B"
    return None


def _hedged(text: str, options: Sequence[str]) -> bool:
    """Names both options: both letters as labels, two letters as alternatives, or both option texts."""
    labels = {group for match in _LABEL.finditer(text) for group in match.groups() if group}
    if labels == {"A", "B"}:
        return True
    if any(m.group(1).upper() != m.group(2).upper() for m in _ALTERNATIVES.finditer(text)):
        return True
    return _options_named(text, options) == (True, True)


def _option_pattern(option: str) -> re.Pattern[str] | None:
    words = re.findall(r"[A-Za-z0-9]+", option)
    if not words:
        return None
    return re.compile(r"(?<![A-Za-z0-9])" + r"\W+".join(map(re.escape, words)) + r"(?![A-Za-z0-9])", re.IGNORECASE)


def _negated(text: str, letter: Letter, options: Sequence[str]) -> bool:
    """The decided option, by letter or by text, is taken back right after or negated right before."""
    index = "AB".index(letter)
    own = _option_pattern(options[index]) if len(options) == 2 else None
    mentions = [(m.start(), m.end()) for m in re.finditer(rf"(?<![A-Za-z0-9])[\(\[\"'“]?{letter}[\)\]\"'”]?", text)]
    if own is not None:
        mentions += [(m.start(), m.end()) for m in own.finditer(text)]
    reach = CONTEXT + (len(options[index]) if own is not None else 0)
    for start, end in mentions:
        # A window, not the rest of the text; where it is cut short, a sentinel keeps "$" from matching there.
        window = text[end : end + reach] + ("\0" if end + reach < len(text) else "")
        stripped = window.lstrip(" .:)-–—")
        echoed = own.match(stripped) if own is not None else None
        # "A. No abnormality": the option's own text, not a "no"
        after = stripped[echoed.end() :] if echoed is not None else window
        if _NEGATED_AFTER.match(after) or _NEGATED_BEFORE.search(text[max(0, start - CONTEXT) : start]):
            return True
    return False


def _conceded_other(text: str, letter: Letter) -> bool:
    """The answer concedes an option beside the one it chose: the other one ("A is right; B is also
    possible"), or this one "also" while naming the other anywhere ("A seems right, but it could also be B")."""
    other = "B" if letter == "A" else "A"
    named = None
    for match in _CONCEDED.finditer(text):
        found = next(group for group in match.groups() if group is not None)
        if found != letter:
            return True
        if named is None:
            named = re.search(rf"(?<![A-Za-z0-9]){other}(?![A-Za-z0-9])", text) is not None
        if named:
            return True
    return False


def _robust_decision(text: str, options: Sequence[str]) -> Letter | None:
    cued = _unique(_CUE.findall(text))
    if cued is not None:
        return cued
    leading = _LEADING.match(text)
    if leading is not None:
        return "A" if leading.group(1) == "A" else "B"
    # The paper rule reads the article in "A fracture is seen" as option A; here it stays an article.
    for candidate in (paper_letter(_ARTICLE.sub("a", text)), _option_letter(text, options)):
        if candidate is not None:
            return candidate
    return _unique(_BRACKETED.findall(text))


def robust_letter(answer: object, options: Sequence[str] = ()) -> Letter | None:
    """Explicit cues, a leading letter, the paper rule, then the option text itself; but no decision
    for an answer that names both options or takes back the one it names."""
    if not isinstance(answer, str):
        return None
    text = _MARKUP.sub("", answer).strip()
    if _hedged(text, options):
        return None
    letter = _robust_decision(text, options)
    if letter is None or _negated(text, letter, options) or _conceded_other(text, letter):
        return None
    return letter


def _parser(item: object) -> Parser:
    if not callable(item):
        raise TypeError(
            f"an answer parser must be callable as parser(text, options) -> 'A', 'B' or None, got {item!r:.80}"
        )
    return item


#: How mc answers are read (--answer-parser): ours, and any registered (a function (text, options) -> letter).
PARSERS: Registry[Parser] = Registry("parsers", _parser)
PARSERS.register("paper", paper_letter)
PARSERS.register("robust", robust_letter)


def other_parser(name: str) -> str:
    """The parser every mc decision is also read with, to count where the two disagree."""
    return next(other for other in PARSERS if other != name)


def get_parser(name: str) -> Parser:
    try:
        return PARSERS[name]
    except KeyError:
        raise ValueError(f"unknown answer parser {name!r}; choose from {', '.join(PARSERS)}") from None
