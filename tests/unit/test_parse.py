from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from mediconfusion_tests.scoring.parse import get_parser, paper_letter, robust_letter

PAPER_FORMS = ["{L}", "{L}:", ".{L}", ".{L}:", "{L}.", '{L}")', '("{L}":', '("{L}")', '("{L}").']


@pytest.mark.parametrize("form", PAPER_FORMS)
@pytest.mark.parametrize("letter", ["A", "B"])
def test_paper_reads_every_token_form(form: str, letter: str) -> None:
    token = form.format(L=letter)
    assert paper_letter(token) == letter
    assert paper_letter(f"The answer is {token} because") == letter


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("A\nexplanation", "A"),  # newlines become spaces
        ("B", "B"),
        ("A and B", None),  # both letters: invalid
        ("(A)", None),  # not one of the paper's forms
        ("**B**", None),
        ("B) Mammography", None),
        ("A,", None),
        ("", None),
        ("I'm unable to view images", None),
        ("a", None),  # lower case is not a letter answer
        ("A  B", None),
        ("A.  ", "A"),  # split on single spaces keeps empty tokens harmlessly
        ("A fracture is seen", "A"),  # the paper's rule reads the article as a letter
    ],
)
def test_paper_rule(text: str, expected: str | None) -> None:
    assert paper_letter(text) == expected


def test_paper_invalid_for_non_text() -> None:
    assert paper_letter(None) is None
    assert paper_letter(3) is None


OPTIONS = ("Mammography", "Ultrasound")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The answer is (B)", "B"),
        ("**B**", "B"),
        ("B) Mammography", "B"),
        ("(A)", "A"),
        ('A")', "A"),
        ("Answer: A", "A"),
        ("The correct option is A.", "A"),
        ("I think it shows an ultrasound image.", "B"),
        ("Mammography", "A"),
        ("Both are possible", None),
        ("I'm unable to view images", None),
        ("The answer is A, not B", None),  # names both options: no decision (issue 9)
        ("", None),
    ],
)
def test_robust_reads_common_answer_shapes(text: str, expected: str | None) -> None:
    assert robust_letter(text, OPTIONS) == expected


def test_robust_prefers_the_longer_option_that_contains_the_other() -> None:
    options = ("Fracture", "No fracture")
    assert robust_letter("No fracture is seen.", options) == "B"
    assert robust_letter("There is a fracture of the radius.", options) == "A"


@given(st.text())
@example("(A)")
@example("answer is A" * 50)
def test_parsers_never_raise(text: str) -> None:
    for parser in (paper_letter, robust_letter):
        assert parser(text, OPTIONS) in (None, "A", "B")


@given(st.sampled_from(PAPER_FORMS), st.sampled_from("AB"))
def test_robust_agrees_with_paper_on_paper_forms(form: str, letter: str) -> None:
    assert robust_letter(form.format(L=letter), OPTIONS) == letter


def test_unknown_parser_is_named() -> None:
    with pytest.raises(ValueError, match="choose from paper, robust"):
        get_parser("magic")


KEPT = [
    ("(A)", "A"),
    ("[B]", "B"),
    ("**B**", "B"),
    ("The answer is (B)", "B"),
    ("Answer:B", "B"),
    ("Mammography", "A"),
    ("Ultrasound", "B"),
    ("B) A flap is visible.", "B"),
    ("A. Mammography", "A"),
    ("Mammography. No other findings.", "A"),
]
HEDGES = [
    "(A) or (B)",
    "A. B.",
    "A) no B) yes",
    '("A": x) ("B": y)',
    "A: Mammography\nB: Ultrasound",
    "The answer is A or B",
    "Answer: A or B",
    "A - or maybe B",
    "Mammography rather than Ultrasound",
    "Mammography? No.",
    "A is incorrect",
    "Not A",
]


@pytest.mark.parametrize(("text", "expected"), KEPT)
def test_robust_keeps_what_it_rightly_reads(text: str, expected: str) -> None:
    assert robust_letter(text, OPTIONS) == expected


@pytest.mark.parametrize("text", HEDGES)
def test_robust_decides_no_hedge(text: str) -> None:
    assert robust_letter(text, OPTIONS) is None


def test_an_option_inside_the_other_counts_where_it_stands_alone() -> None:
    options = ("Effaced", "Not effaced")
    assert robust_letter("Not effaced", options) == "B"
    assert robust_letter("Effaced", options) == "A"
    assert robust_letter("Effaced rather than Not effaced", options) is None
    assert robust_letter("Effaced? No.", options) is None


def test_the_paper_parser_is_unchanged_on_hedges() -> None:
    # The paper rule is the harness's: it reads two of these hedges as A, and must keep doing exactly that.
    read = {text: paper_letter(text) for text in HEDGES}
    assert {text for text, letter in read.items() if letter is not None} == {"A is incorrect", "Not A"}
    assert read["A is incorrect"] == read["Not A"] == "A"
