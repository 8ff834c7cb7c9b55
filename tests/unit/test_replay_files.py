"""Replay files read and checked: the harness's format, ours, and what is refused."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest
from helpers import harness_file, make_document, outcome, r

from mediconfusion_tests.errors import DataError
from mediconfusion_tests.models.replay import HARNESS, OURS, read_replay

if TYPE_CHECKING:
    from pathlib import Path


def test_harness_format_plain_and_nested(tmp_path: Path) -> None:
    path = harness_file(
        tmp_path,
        {
            "1": {"answer": {"im1": r("A", 10, 0), "im2": {"answer": r("B", 0, 10), "logprob": -0.3}}, "score": {}},
        },
    )
    replay = read_replay(path, "mc")
    assert replay.format == HARNESS
    first, second = replay.answers["1"]
    assert (first.text, second.text) == ("A", "B")
    assert second.meta["logprob"] == -0.3
    assert replay.recorded_scores == {"1": {}}


def test_freeform_needs_judge_scores(tmp_path: Path) -> None:
    good = harness_file(tmp_path, {"1": {"answer": {"im1": r("long", 8, 2, gpt_reason="x"), "im2": r("t", 1, 9)}}})
    first, _ = read_replay(good, "freeform").answers["1"]
    assert first.scores == {"A": 8.0, "B": 2.0}
    assert first.meta == {"gpt_reason": "x"}
    bad = harness_file(tmp_path, {"1": {"answer": {"im1": {"full_answer": "x"}, "im2": r("t", 1, 9)}}})
    with pytest.raises(DataError, match=r"pair 1: im1: --mode=freeform needs numeric judge scores A and B"):
        read_replay(bad, "freeform")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[1, 2]", "expected a JSON object, got list"),
        ("{not json", "not valid JSON"),
        ('{"1": {"answers": {}}}', 'pair 1: expected {"answer"'),
        ('{"1": {"answer": {"im1": {"full_answer": "A"}}}}', "pair 1: answer lacks im2"),
        ('{"1": {"answer": {"im1": 5, "im2": 5}}}', "pair 1: im1: expected an object with full_answer"),
        ('{"1": {"answer": {"im1": {"A": 1}, "im2": {"A": 1}}}}', "--mode=mc needs full_answer"),
        ('{"schema": "mediconfusion-tests/results", "pairs": 3}', "needs a 'pairs' list"),
    ],
)
def test_wrong_shapes_are_named(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "answers.json"
    path.write_text(content)
    with pytest.raises(DataError, match=message):
        read_replay(path, "mc")


def test_our_results_must_match_the_mode(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    path.write_text(make_document([outcome("1")], mode="greedy").to_json())
    with pytest.raises(DataError, match="recorded with --mode=greedy; pass --mode=greedy"):
        read_replay(path, "mc")


def test_a_results_file_of_an_unknown_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"schema": OURS, "config": {"mode": "greedy"}, "pairs": []}))
    with pytest.raises(DataError, match=r"schema_version None is not an integer \(1 or 2\)"):
        read_replay(path, "mc")
