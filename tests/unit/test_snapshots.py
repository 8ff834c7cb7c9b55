"""What a person reads, pinned as snapshots (syrupy): summary.md, the terminal summary, the leaderboard.

Update deliberately with ``pytest tests/unit/test_snapshots.py --snapshot-update`` and review the diff.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from helpers import make_document, outcome

from mediconfusion_tests.reporting import leaderboard
from mediconfusion_tests.reporting.markdown import markdown_summary
from mediconfusion_tests.reporting.terminal import terminal_summary
from mediconfusion_tests.results.document import GateRecord, ResultsDocument
from mediconfusion_tests.results.gate import ConditionRecord

if TYPE_CHECKING:
    from syrupy.assertion import SnapshotAssertion


def run(name: str, decisions: list[tuple[str | None, str | None]]) -> ResultsDocument:
    outcomes = [
        outcome(f"9010{i}", ("A", "B"), d, (("Cerebral",), ("Cardiac" if i % 2 else "Cerebral",)), raws=None)  # type: ignore[arg-type]
        for i, d in enumerate(decisions, start=1)
    ]
    document = make_document(outcomes, run_id=name, model=name)
    document.counts.failure_classes = {
        "confused": sum(o.failure_class == "confused" for o in outcomes),
        "wrong": sum(o.failure_class == "wrong" for o in outcomes),
        "invalid": sum(o.failure_class == "invalid" for o in outcomes),
    }
    return document


@pytest.fixture
def gated() -> ResultsDocument:
    document = run("llava", [("A", "B"), ("A", "A"), ("B", "A"), (None, "B"), ("A", "B"), ("B", "B")])
    value = document.metrics.overall.set_accuracy
    document.gate = GateRecord(
        passed=False,
        conditions=[
            ConditionRecord(
                condition="set_accuracy>=0.5",
                passed=False,
                value=value.value,
                ci95=value.ci95,
                n=value.n,
                metric="set_accuracy",
                op=">=",
                threshold=0.5,
                bound="value",
            )
        ],
    )
    document.warnings = ["the gate was judged on a subset: 6 of 16 pairs scored"]
    document.problems = ["1 test(s) outside the benchmark failed: test_x.py::test_y (call): <b>no</b>"]
    return document


def test_markdown_summary(gated: ResultsDocument, snapshot: SnapshotAssertion) -> None:
    assert markdown_summary(gated) == snapshot


def test_terminal_summary_lines_and_their_kinds(gated: ResultsDocument, snapshot: SnapshotAssertion) -> None:
    written = {"results": Path("reports/run/results.json"), "summary": Path("reports/run/summary.md")}
    assert terminal_summary(gated, written) == snapshot


def test_leaderboard_in_the_terminal_and_markdown(snapshot: SnapshotAssertion) -> None:
    documents = [
        ("blip2-opt-2.7b-greedy", run("blip2", [("A", "A"), ("A", "A"), ("B", "A"), ("A", "B")])),
        ("llava-v1.6-mistral-7b-greedy", run("llava", [("A", "B"), ("A", "B"), ("B", "A"), ("A", "B")])),
    ]
    board = leaderboard.build(leaderboard.rank(documents))
    assert leaderboard.terminal(board) == snapshot
    assert leaderboard.markdown(board) == snapshot
