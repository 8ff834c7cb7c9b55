"""A drafter's reply: the one JSON object it must hold, and the first thing wrong with it, named."""

from __future__ import annotations

import json

import pytest

from mediconfusion_tests.mining.drafting import Draft, DraftError, parse_draft

GOOD = {
    "question": "Is there a  fracture?",
    "option_a": "Yes",
    "option_b": "No",
    "answer_1": "a",
    "answer_2": "B",
    "categories": ["Musculoskeletal", " Musculoskeletal", ""],
}


def test_a_draft_is_read_from_a_fenced_reply_with_words_around_it() -> None:
    reply = f"Here is the draft:\n```json\n{json.dumps(GOOD)}\n```\nHope it helps."
    assert parse_draft(reply) == Draft("Is there a fracture?", "Yes", "No", "A", "B", ("Musculoskeletal",))
    assert parse_draft(json.dumps({**GOOD, "categories": "Lung"})).categories == ("Lung",)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"question": " "}, "question is missing or empty"),
        ({"option_b": None}, "option_b is missing or empty"),
        ({"answer_1": "C"}, "answer_1 and answer_2 must be A or B, not 'C' and 'B'"),
        ({"answer_2": "A"}, "both images have the same true option"),
        ({"option_b": "YES"}, "option_a and option_b are the same"),
        ({"categories": [3]}, "categories must be a list of names"),
        ({"categories": []}, "no category given"),
    ],
)
def test_each_fault_is_named(change: dict, reason: str) -> None:
    with pytest.raises(DraftError, match=reason.replace("(", r"\(")):
        parse_draft(json.dumps({**GOOD, **change}))


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        ("I cannot help with that.", "no JSON object in the reply"),
        ('{"question": "Is it?",}', "the JSON does not parse"),
        ("[1, 2] {", "no JSON object in the reply"),
    ],
)
def test_replies_without_a_usable_object(reply: str, reason: str) -> None:
    with pytest.raises(DraftError, match=reason):
        parse_draft(reply)
