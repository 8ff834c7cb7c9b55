"""The engine on the sample's pairs: answers from the store on a second run, each pair committed before the
next, model errors as outcomes, one-line failures."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

import pytest

from mediconfusion_tests.data.files import read_pairs
from mediconfusion_tests.data.images import LOCAL, ImageLayout
from mediconfusion_tests.models.base import Answer, Model, Query
from mediconfusion_tests.prompts import BUILTIN
from mediconfusion_tests.run.engine import Engine
from mediconfusion_tests.run.store import AnswerStore

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path


class Counting(Model):
    name = "counting"

    def __init__(self, text: str = "B", fail: bool = False) -> None:
        self.text = text
        self.fail = fail
        self.seen: list[str] = []

    def answer(self, queries: Sequence[Query]) -> list[Answer]:
        if self.fail:
            raise RuntimeError("GPU fell off the bus")
        self.seen += [q.key for q in queries]
        return [Answer(self.text) for _ in queries]


@pytest.fixture
def pair(sample_dir: Path):
    return read_pairs(sample_dir / "dataset.json")[0]


@pytest.fixture
def layout(sample_dir: Path) -> ImageLayout:
    return ImageLayout(LOCAL, str(sample_dir / "images"))


def test_engine_answers_from_the_store_on_the_second_run(tmp_path: Path, pair, layout: ImageLayout) -> None:
    first = Counting("B")
    store = AnswerStore(tmp_path / "answers.sqlite")
    outcome = Engine(first, "mc", BUILTIN, layout, store).run_pair(pair)
    assert first.seen == [f"{pair.id}/1", f"{pair.id}/2"]
    assert outcome.answers is not None
    assert [a.cached for a in outcome.answers] == [False, False]
    second = Counting("B")
    again = Engine(second, "mc", BUILTIN, layout, AnswerStore(tmp_path / "answers.sqlite")).run_pair(pair)
    assert second.seen == []
    assert again.answers is not None
    assert [a.cached for a in again.answers] == [True, True]
    assert again.decisions == outcome.decisions == ("B", "B")


def test_each_pair_is_committed_before_the_next(tmp_path: Path, pair, layout: ImageLayout) -> None:
    Engine(Counting(), "mc", BUILTIN, layout, AnswerStore(tmp_path / "answers.sqlite")).run_pair(pair)
    # A second connection (another process after a SIGKILL) sees the committed rows.
    rows = sqlite3.connect(tmp_path / "answers.sqlite").execute("SELECT pair_id, image_index FROM answers")
    assert sorted(rows) == [(pair.id, 1), (pair.id, 2)]


def test_model_errors_become_error_outcomes(pair, layout: ImageLayout) -> None:
    outcome = Engine(Counting(fail=True), "mc", BUILTIN, layout, None).run_pair(pair)
    assert outcome.failure_class == "error"
    assert outcome.failure_message == "model error: RuntimeError: GPU fell off the bus"
    assert "Traceback" in (outcome.failure_report() or "")
    assert "error_detail" not in outcome.to_dict()


def test_decisions_record_the_other_parser(pair, layout: ImageLayout) -> None:
    outcome = Engine(Counting("The answer is (B)"), "mc", BUILTIN, layout, None).run_pair(pair)
    assert outcome.answers is not None
    first = outcome.answers[0]
    assert (first.decision, first.alternative_decision) == (None, "B")
    robust = Engine(Counting("The answer is (B)"), "mc", BUILTIN, layout, None, answer_parser="robust")
    assert robust.run_pair(pair).decisions == ("B", "B")


def test_failure_messages_are_one_line(pair, layout: ImageLayout) -> None:
    refusal = Engine(Counting("I'm unable to\nview images"), "mc", BUILTIN, layout, None).run_pair(pair)
    assert refusal.failure_message == (
        'invalid answer on image 1: "I\'m unable to view images"; '
        'invalid answer on image 2: "I\'m unable to view images"'
    )
    confused = Engine(Counting("B"), "mc", BUILTIN, layout, None).run_pair(pair)
    assert confused.failure_message == "confused: answered B for both images"
