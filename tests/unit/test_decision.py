"""The release decision as a table: pytest status x gated x conditions x problems -> exit status. Milliseconds."""

from __future__ import annotations

import itertools

import pytest

from mediconfusion_tests.results.decision import (
    CrashFact,
    RunFacts,
    Verdict,
    decide,
    exit_status,
    find_problems,
    subset_findings,
)
from mediconfusion_tests.results.gate import check

CLEAN = RunFacts(pairs_in_dataset=16, scored=16)
HOLDS, FAILS = check("holds", True, ""), check("fails", False, "")


@pytest.mark.parametrize(
    ("status", "gated", "holds", "problem", "expected"),
    [
        (status, gated, holds, problem, expected)
        for status, gated, holds, problem in itertools.product(
            (0, 1, 2, 3, 4, 5), (False, True), (True, False), (False, True)
        )
        for expected in [
            # Only pass/fail statuses are the gate's to replace; without a gate pytest's status stands.
            status if status not in (0, 1) or not gated else (0 if holds and not problem else 1)
        ]
    ],
)
def test_exit_status_table(status: int, gated: bool, holds: bool, problem: bool, expected: int) -> None:
    facts = RunFacts(pairs_in_dataset=16, scored=16, stopped_early=problem)
    results = [HOLDS if holds else FAILS] if gated else []
    verdict = decide(results, facts)
    assert verdict.gated is gated
    assert exit_status(status, verdict) == expected


def test_no_verdict_keeps_pytest_status() -> None:
    assert exit_status(1, None) == 1
    assert exit_status(0, Verdict(False, None)) == 0


def test_a_clean_run_has_no_problem() -> None:
    assert find_problems(CLEAN) == []


@pytest.mark.parametrize(
    ("facts", "phrase"),
    [
        (RunFacts(16, 15, model_errors=["7"]), "1 pair(s) had model errors: 7"),
        (RunFacts(16, 15, errors={"7": "boom"}), "1 pair(s) errored before answering, e.g. boom"),
        (RunFacts(16, 16, duplicates=["3", "3"]), "pair(s) reported more than once: 3"),
        (RunFacts(16, 14, silent=2), "2 selected pair(s) reported no outcome"),
        (RunFacts(16, 16, other_failures=["t.py::x (call): no"]), "1 test(s) outside the benchmark failed"),
        (RunFacts(16, 16, teardown_errors=["t.py::y: closed"]), "teardown failed after t.py::y: closed"),
        (RunFacts(16, 10, stopped_early=True), "the run stopped early"),
        (RunFacts(16, 0), "no pair was scored"),
        (RunFacts(16, 16, baseline_mismatches=["mode: a, b"]), "baseline cannot be compared: mode: a, b"),
        (
            RunFacts(16, 16, crashes=[CrashFact("gw0", "5", True, together=3, answered=True, retried=True)]),
            "xdist worker gw0 crashed while running pair 5 (answering it together with 3 other pair(s)); rerun",
        ),
        (
            RunFacts(16, 15, crashes=[CrashFact("gw2", "5", True, retried=False)]),
            "not retried: it crashed a worker while answered alone",
        ),
    ],
)
def test_each_problem_is_named(facts: RunFacts, phrase: str) -> None:
    problems = find_problems(facts)
    assert any(phrase in p for p in problems), problems
    assert decide([HOLDS], facts).passed is False


def test_an_allowed_baseline_mismatch_is_a_warning_not_a_problem() -> None:
    facts = RunFacts(16, 16, baseline_mismatches=["mode: a, b"], mismatch_allowed=True)
    verdict = decide([HOLDS], facts)
    assert verdict.passed is True
    assert verdict.warnings == ("baseline differs (allowed): mode: a, b",)


def test_subsets_warn_or_fail_by_the_minimum() -> None:
    facts = RunFacts(16, 4)
    assert decide([HOLDS], facts).passed is True
    assert "judged on a subset: 4 of 16" in decide([HOLDS], facts).warnings[0]
    assert decide([HOLDS], facts, min_pairs="all").passed is False
    assert decide([HOLDS], facts, min_pairs=4).passed is True
    problem, _ = subset_findings(4, 16, 16, "all; [tool.mediconfusion] gates hold for every pair")
    assert problem == (
        "the gate needs 16 scored pair(s) (--gate-min-pairs=all; [tool.mediconfusion] gates hold for every pair) "
        "but this run scored 4 of the dataset's 16"
    )
