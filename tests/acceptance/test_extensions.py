"""Metrics, answer parsers, probes and report writers added from outside the package, each in one place."""

from __future__ import annotations

import json

import pytest

#: A project's conftest.py: one block per extension, nothing else touched.
CONFTEST = """
from mediconfusion_tests.scoring.metrics import METRICS, Metric
from mediconfusion_tests.scoring.parse import PARSERS
from mediconfusion_tests.scoring.probes import PROBES, Probe, ProbeOutcome, compare_same, variant_id
from mediconfusion_tests.scoring.stats import Proportion


def answered_a(pairs):
    decisions = [d for outcome in pairs for d in outcome.decisions]
    return Proportion.of(sum(d == "A" for d in decisions), len(decisions))


METRICS.register("a_rate", Metric(answered_a, "images answered A"))


def last_letter(text, options):
    return next((c for c in reversed(str(text)) if c in "AB"), None)


PARSERS.register("last_letter", last_letter)


def ask_again(run, pair, original, settings):
    from dataclasses import replace

    again = run.run_variant(replace(pair, id=variant_id(pair.id, "again")))
    if again.error is not None:
        return ProbeOutcome("again", pair.id, pair.categories, original.decisions, error=again.error)
    result = compare_same(original, again, "again", {})
    return ProbeOutcome("again", pair.id, pair.categories, original.decisions, (result,))


PROBES.register("again", Probe(ask_again, "the same question asked twice"))


def write_csv(document, folder):
    path = folder / "pairs.csv"
    path.write_text("".join(f"{p.pair_id},{p.status}\\n" for p in document.pairs))
    return {"pairs csv": path}


def pytest_mediconfusion_writers():
    return {"csv": write_csv}
"""


@pytest.mark.parametrize("workers", [None, "2"])
def test_a_metric_a_parser_a_probe_and_a_writer_from_a_conftest(pytester: pytest.Pytester, workers: str | None) -> None:
    pytester.makeconftest(CONFTEST)
    gates = ("--gate", "a_rate>=0.0", "--gate", "again.consistency>=0.0", "--gate", "Cardiac.a_rate<=1.0")
    options = ("--model=always-a", "--dataset=sample", "--answer-parser=last_letter", "--probes=order,again", *gates)
    # In a subprocess: the registrations must not outlive the run (the registries are per process).
    result = pytester.runpytest_subprocess(*options, "-p", "no:cacheprovider", *(("-n", workers) if workers else ()))
    assert result.ret == 0, result.stdout.str()[-3000:]
    run = pytester.path / "reports" / "latest"
    document = json.loads((run / "results.json").read_text())
    overall = document["metrics"]["overall"]
    assert overall["extra"]["a_rate"]["n"] == 2 * document["counts"]["pairs_scored"] == 32
    assert overall["extra"]["a_rate"]["value"] == 1.0
    assert set(document["metrics"]["categories"]["Cardiac"]["paper"]["extra"]) == {"a_rate"}
    assert [c["condition"] for c in document["gate"]["conditions"]] == [g for g in gates if g != "--gate"]
    assert all(c["passed"] for c in document["gate"]["conditions"])
    assert document["parser"]["name"] == "last_letter"
    again = [r for r in document["probes"]["pairs"] if r["probe"] == "again"]
    assert len(again) == 16
    assert all(r["status"] == "consistent" for r in again)  # always A, asked again
    assert document["probes"]["figures"]["again"]["consistency"]["value"] == 1.0
    lines = (run / "pairs.csv").read_text().splitlines()
    assert len(lines) == 16
    assert lines[0].split(",")[1] in ("passed", "failed")
