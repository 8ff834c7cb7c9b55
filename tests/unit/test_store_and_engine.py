"""The answer store: round trips and what its key is sensitive to."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mediconfusion_tests.models.base import Answer, Query
from mediconfusion_tests.run.store import AnswerStore, answer_key

if TYPE_CHECKING:
    from pathlib import Path


def test_store_round_trip_and_key_sensitivity(tmp_path: Path) -> None:
    store = AnswerStore(tmp_path / "answers.sqlite")
    query = Query("1", 1, "x.jpg", "sha", "Q?", ("a", "b"), "mc", "prompt")
    key = answer_key("fp", query, {"max_new_tokens": 32})
    store.put_many("fp", [(key, query, Answer("A", {"A": 0.9}, None, {"t": 1}))])
    assert store.get_many([key]) == {key: Answer("A", {"A": 0.9}, None, {"t": 1})}
    changed = [
        answer_key("fp2", query, {"max_new_tokens": 32}),
        answer_key("fp", query, {"max_new_tokens": 16}),
        answer_key("fp", Query("1", 1, "x.jpg", "other-sha", "Q?", ("a", "b"), "mc", "prompt"), {}),
        answer_key("fp", Query("1", 1, "x.jpg", "sha", "Q?", ("a", "b"), "mc", "other prompt"), {}),
        answer_key("fp", Query("1", 1, "x.jpg", "sha", "Q?", ("a", "b"), "greedy", "prompt"), {}),
    ]
    assert len(set(changed) | {key}) == 6
    assert store.count() == 1
