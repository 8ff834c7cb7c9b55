"""A gate no crash can fool: dead xdist workers, pairs that kill every worker, failures beside the suite.

Every run here is bounded by a timeout, so a regression that hangs fails instead of stalling CI.
"""

from __future__ import annotations

import pytest
from helpers import read_results, read_run

SAMPLE = ("--dataset=sample", "-p", "no:cacheprovider")
LIMIT_S = 180
#: A model that answers A for every image, except that it ends its own process (os._exit, as a
#: segfault or OOM kill would) on CRASH_PAIR: once (a marker file remembers) or every time.
CRASHING_CONFTEST = """
import os
from pathlib import Path
from mediconfusion_tests.models.base import Model
from mediconfusion_tests.models.baselines import answer_in_mode
from mediconfusion_tests.models.registry import ModelEntry

class Crashing(Model):
    name = "crashing"
    cacheable = False

    def answer(self, queries):
        marker = Path(os.environ["CRASH_MARKER"])
        for query in queries:
            again = os.environ.get("CRASH_ALWAYS") or not marker.exists()
            if query.pair_id == os.environ.get("CRASH_PAIR") and again:
                marker.write_text("crashed")
                os._exit(3)
        return [answer_in_mode(q.mode, "A") for q in queries]

class Closing(Model):
    name = "closing"
    cacheable = False

    def answer(self, queries):
        return [answer_in_mode(q.mode, "A") for q in queries]

    def close(self):
        raise RuntimeError("GPU memory could not be released")

def pytest_mediconfusion_models():
    return [
        ModelEntry("crashing", "dies on one pair", lambda spec, config: Crashing(), needs_images=False),
        ModelEntry("closing", "fails in close()", lambda spec, config: Closing(), needs_images=False),
    ]
"""


@pytest.fixture
def crashing(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    pytester.makeconftest(CRASHING_CONFTEST)
    monkeypatch.setenv("CRASH_MARKER", str(pytester.path / "crashed.marker"))
    monkeypatch.setenv("CRASH_PAIR", "90105")
    return pytester


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(*args, *SAMPLE, timeout=LIMIT_S)


def test_a_worker_crash_fails_the_gate_even_when_the_rerun_succeeds(crashing: pytest.Pytester) -> None:
    result = run(crashing, "--model=crashing", "-n", "2", "--gate", "set_accuracy>=0")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["GATE FAILED (conditions hold, but the run has problems: see below)"])
    results = read_results(crashing.path)
    assert results["counts"]["pairs_scored"] == 16  # every pair answered after the rerun
    crash = results["crashes"][0]
    assert crash["pair_id"] == "90101"  # the test running when its chunk's batch (holding 90105) died
    assert "90105" in crash["in_flight"]
    assert crash["retried"] is True
    assert crash["worker"] in ("gw0", "gw1")
    assert any(
        f"xdist worker {crash['worker']} crashed while running pair 90101" in p
        and "rerun on another worker, it then answered" in p
        for p in results["problems"]
    )


def test_a_pair_that_always_crashes_is_errored_and_the_rest_complete(
    crashing: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRASH_ALWAYS", "1")
    result = run(crashing, "--model=crashing", "-n", "2", "--gate", "set_accuracy>=0")
    assert result.ret == 1
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    results = read_results(crashing.path)
    assert results["errors"]["90105"].startswith("crashed xdist worker(s)")
    assert any("not retried: it crashed a worker while answered alone" in p for p in results["problems"])
    # Two crashes (in its batch, then alone) cost two restarts: the other 15 pairs are all answered.
    assert results["counts"]["pairs_scored"] == 15
    assert len(results["crashes"]) == 2


@pytest.mark.parametrize("restarts", ["0", "1"])
def test_the_restart_limit_is_respected_and_the_run_says_what_is_missing(
    crashing: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, restarts: str
) -> None:
    monkeypatch.setenv("CRASH_ALWAYS", "1")
    result = run(crashing, "--model=crashing", "-n", "2", "--max-worker-restart", restarts, "--gate", "set_accuracy>=0")
    assert result.ret == 1
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    results = read_run(crashing.path)
    assert len(results["crashes"]) == int(restarts) + 1
    assert any("reported no outcome" in p for p in results["problems"])
    assert results["counts"]["pairs_scored"] < 16
    assert not (crashing.path / "reports" / "latest").exists()  # an incomplete run never becomes latest


#: A user's module that collects the suite next to a test of their own.
BESIDE = """
from mediconfusion_tests.suite.test_pairs import test_pair  # noqa: F401


def test_mine():
    assert 1 == 2
"""


@pytest.mark.parametrize("workers", [None, "2"])
def test_a_failing_test_beside_the_suite_fails_the_run(
    crashing: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, workers: str | None
) -> None:
    monkeypatch.delenv("CRASH_PAIR")  # no crash here: without xdist it would end pytest itself
    crashing.makepyfile(test_mine=BESIDE)
    extra = () if workers is None else ("-n", workers)
    result = run(crashing, "--model=crashing", "test_mine.py", "--gate", "set_accuracy>=0", *extra)
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        [
            "GATE FAILED (conditions hold, but the run has problems: see below)",
            "PROBLEM: 1 test(s) outside the benchmark failed: test_mine.py::test_mine (call): assert 1 == 2",
        ]
    )
    assert read_results(crashing.path)["counts"]["pairs_scored"] == 16


@pytest.mark.parametrize("workers", [None, "2"])
def test_a_teardown_error_fails_the_run(crashing: pytest.Pytester, workers: str | None) -> None:
    extra = () if workers is None else ("-n", workers)
    result = run(crashing, "--model=closing", "--gate", "set_accuracy>=0", *extra)
    assert result.ret == 1
    result.stdout.fnmatch_lines(["PROBLEM: teardown failed after *RuntimeError: GPU memory could not be released"])
