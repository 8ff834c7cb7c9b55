"""Metrics, answer parsers, probes and report writers added from outside the package, each in one place."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from typing import TYPE_CHECKING

import pytest

from mediconfusion_tests.errors import ConfigError
from mediconfusion_tests.extensions import Registry

if TYPE_CHECKING:
    from pathlib import Path

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


@pytest.mark.acceptance
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


def test_a_registry_refuses_a_taken_name_a_bad_name_and_a_wrong_kind() -> None:
    registry: Registry[int] = Registry("numbers", lambda item: item if isinstance(item, int) else int("x"))
    registry.register("one", 1)
    with pytest.raises(ConfigError, match="numbers: 'one' is already registered"):
        registry.register("one", 2)
    registry.register("one", 2, replace=True)
    assert registry["one"] == 2
    with pytest.raises(ConfigError, match="numbers: 'two words' is not a usable name"):
        registry.register("two words", 3)
    with pytest.raises(ValueError, match="invalid literal"):
        registry.register("three", "3")
    assert registry.names() == ("one",)
    assert registry.get("missing") is None


def test_a_metric_from_an_installed_package_entry_point(tmp_path: Path) -> None:
    """A package (here a dist-info on sys.path) declares the metric; nothing else is needed to gate on it."""
    (tmp_path / "extra_metrics.py").write_text(
        textwrap.dedent(
            """
            from mediconfusion_tests.scoring.metrics import Metric
            from mediconfusion_tests.scoring.stats import Proportion

            def b_rate(pairs):
                return Proportion.of(sum(d == "B" for o in pairs for d in o.decisions), 2 * len(pairs))

            B_RATE = Metric(b_rate)
            """
        )
    )
    info = tmp_path / "extra_metrics-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: extra-metrics\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[mediconfusion_tests.metrics]\nb_rate = extra_metrics:B_RATE\n")
    code = textwrap.dedent(
        """
        import sys
        sys.path.insert(0, sys.argv[1])
        sys.path.insert(0, sys.argv[2])
        from helpers import outcome
        from mediconfusion_tests.results.gate import evaluate, parse_condition
        from mediconfusion_tests.scoring.metrics import compute_metrics

        metrics = compute_metrics([outcome("1", decisions=("B", "B")), outcome("2", decisions=("A", "B"))])
        print(metrics.overall.extra["b_rate"].value, evaluate([parse_condition("b_rate>=0.7")], metrics)[0].passed)
        """
    )
    tests = str(__import__("pathlib").Path(__file__).parent)
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path), tests], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["0.75", "True"]
