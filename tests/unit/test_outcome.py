from __future__ import annotations

import json

from helpers import outcome

from mediconfusion_tests.scoring.outcome import PairOutcome


def test_messages_for_each_failure_class() -> None:
    assert outcome(decisions=("A", "B")).failure_message is None
    assert outcome(decisions=("B", "B")).failure_message == "confused: answered B for both images"
    assert outcome(decisions=("A", "A")).failure_class == "confused"
    wrong = outcome(truth=("A", "B"), decisions=("B", "A"))
    assert wrong.failure_class == "wrong"
    assert wrong.failure_message == ("wrong on image 1: answered B, truth A; wrong on image 2: answered A, truth B")
    mixed = outcome(decisions=(None, "A"), raws=("   ", "A"))
    assert mixed.failure_class == "invalid"
    assert mixed.failure_message == 'invalid answer on image 1: ""; wrong on image 2: answered A, truth B'


def test_long_answers_are_cut_and_quotes_escaped() -> None:
    long = outcome(decisions=(None, "B"), raws=('He said "x" ' * 20, "B"))
    message = long.failure_message or ""
    assert message.startswith('invalid answer on image 1: "He said \\"x\\" He said')
    assert "…" in message
    assert "\n" not in message


def test_round_trip_through_json_builtins() -> None:
    original = outcome(decisions=(None, "B"), categories=(("Cerebral", "Vascular"), ("Spinal",)))
    wire = json.loads(json.dumps(original.to_dict()))
    assert PairOutcome.from_dict(wire) == original
