"""The robust parser decides no hedge: generated from real option texts, every one stays invalid."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from conftest import SHARED
from mediconfusion_tests.scoring.parse import robust_letter

LETTER_FORMS = ["{L}", "({L})", "[{L}]", "{L})", "{L}.", "{L}:", '"{L}"', "option {L}", "**{L}**"]
JOINERS = [" or ", " and ", " / ", " - or maybe ", " or maybe ", " rather than ", " vs ", ", or ", " nor "]
PREFIXES = ["", "The answer is ", "Answer: ", "I think ", "It could be ", "Either "]
CONCESSIONS = [
    "{X} seems right, but it could also be {Y}.",
    "I would say {X}, but {Y} is also possible",
    "The answer is {X}. However, {Y} is also plausible.",
    "{X} (or possibly {Y})",
    "Probably {X}, though it might also be option {Y}.",
    "The answer is {X}; {Y} may be equally likely.",
    "{X}, or perhaps {Y}",
]


def _sample_options() -> list[tuple[str, str]]:
    from mediconfusion_tests.sample.benchmark import sample_folder

    records = json.loads((sample_folder() / "dataset.json").read_text())
    return [(r["option_A"], r["option_B"]) for r in records.values()]


def _real_options() -> list[tuple[str, str]]:
    path = Path(SHARED) / "dataset.json"
    if not path.is_file():
        pytest.skip(f"the real MediConfusion metadata is not at {SHARED}")
    return [(r["option_A"], r["option_B"]) for r in json.loads(path.read_text()).values()]


def _norm(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


@st.composite
def hedges(draw: st.DrawFn, options: tuple[str, str]) -> str:
    a, b = options
    kind = draw(st.sampled_from(["letters", "texts", "listed", "taken back", "negated", "conceded"]))
    if kind == "conceded":  # one option chosen, the other granted beside it
        first, second = draw(st.permutations(["A", "B"]))
        return draw(st.sampled_from(CONCESSIONS)).format(X=first, Y=second)
    if kind == "letters":
        first, second = draw(st.permutations([draw(st.sampled_from(LETTER_FORMS)).format(L=x) for x in "AB"]))
        return draw(st.sampled_from(PREFIXES)) + first + draw(st.sampled_from(JOINERS)) + second
    if kind == "texts":
        first, second = draw(st.permutations([a, b]))
        return draw(st.sampled_from(PREFIXES)) + first + draw(st.sampled_from(JOINERS)) + second
    if kind == "listed":  # the option list echoed back
        separator = draw(st.sampled_from([": ", ") ", ". "]))
        return f"A{separator}{a}\nB{separator}{b}"
    index = draw(st.sampled_from([0, 1]))
    named = draw(st.sampled_from([options[index], "AB"[index], f"({'AB'[index]})", f"option {'AB'[index]}"]))
    if kind == "taken back":
        suffix = draw(st.sampled_from(["? No.", ". No.", " is incorrect.", " is wrong", ": no"]))
        # With the options Yes / No, "A: no" names the option No; it takes nothing back.
        assume("no" not in suffix.lower() or not {_norm(a), _norm(b)} & {"yes", "no"})
        return named + suffix
    text = draw(st.sampled_from(["Not ", "It is not ", "The answer is not "])) + named
    # "Not Effaced" is the other option's own text, not a negation of this one.
    assume(_norm(options[1 - index]) not in _norm(text))
    return text


@pytest.mark.parametrize("source", ["sample", "real"])
def test_generated_hedges_stay_invalid(source: str) -> None:
    pairs = _sample_options() if source == "sample" else _real_options()

    @given(st.sampled_from(pairs).flatmap(lambda options: st.tuples(st.just(options), hedges(options))))
    def check(case: tuple[tuple[str, str], str]) -> None:
        options, text = case
        assert robust_letter(text, options) is None, (text, options)

    check()


@pytest.mark.parametrize(
    "text",
    [
        "Answer: A\n" * 6_000,
        "answer" + " " * 60_000 + "x",
        "A" + " , " * 20_000 + "x",
        "(A) not " * 7_500,
        "could also be " * 4_000 + "B",
        "Effaced " * 7_500,
    ],
    ids=["repeated-answer", "spaces-after-cue", "separators", "negations", "concessions", "option-text"],
)
def test_no_answer_makes_the_parser_hang(text: str) -> None:
    """A hang guard, not a speed target (benchmarks/parse_scaling.py measures the scaling): 60 KB took
    99 s when the parser rescanned the text before every mention; it now reads windows in linear time."""
    import threading

    done: list[object] = []
    worker = threading.Thread(target=lambda: done.append(robust_letter(text, ("Effaced", "Not effaced"))), daemon=True)
    worker.start()
    worker.join(timeout=30)
    assert done, f"robust_letter did not finish on {len(text)} characters within 30 s"
