"""The release decision as pure functions: what is wrong with a run, the verdict, the exit status.

Everything here takes plain values, so the whole decision table is unit-tested in
milliseconds (tests/unit/test_decision.py) without running pytest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from mediconfusion_tests.results.gate import ConditionRecord

#: How a problem of a model that never loaded begins (the exit line names it).
LOAD_FAILED = "the model could not be loaded"
#: How the problem of a run stopped by its request or cost budget begins.
BUDGET_STOP = "the run was stopped"
#: The reason a pair case gives when the run stopped before answering it (see the shipped suite).
NOT_RUN = "not run: "
EXIT_OK = 0
EXIT_FAILED = 1
#: pytest exit statuses that a gate may replace (others: interrupted, internal, usage, no tests).
GATEABLE = (0, 1)
INTERRUPTED = 2


@dataclass(frozen=True)
class CrashFact:
    worker: str
    test: str | None
    is_pair: bool
    #: Other pairs answered in the same batch as the crashed one.
    together: int = 0
    answered: bool = False
    retried: bool | None = None


@dataclass(frozen=True)
class RunFacts:
    """What the run did, as the decision needs it."""

    pairs_in_dataset: int
    scored: int
    model_errors: Sequence[str] = ()
    errors: Mapping[str, str] = field(default_factory=dict)
    duplicates: Sequence[str] = ()
    crashes: Sequence[CrashFact] = ()
    silent: int = 0
    other_failures: Sequence[str] = ()
    teardown_errors: Sequence[str] = ()
    stopped_early: bool = False
    #: Why the model could not be loaded, per process that tried.
    load_errors: Sequence[str] = ()
    baseline_mismatches: Sequence[str] = ()
    mismatch_allowed: bool = False
    #: Why the run stopped itself (a spent --max-requests / --max-cost budget), and pairs left unanswered.
    budget_stop: str | None = None
    unanswered: int = 0
    #: Where every answer received is kept (the answer store's path), or None with --no-store.
    answer_store: str | None = None


@dataclass(frozen=True)
class Verdict:
    """The run as a release decision."""

    gated: bool
    passed: bool | None
    results: Sequence[ConditionRecord] = ()
    problems: Sequence[str] = ()
    #: Said loudly, but not failing: an allowed baseline difference, a subset, merged categories.
    warnings: Sequence[str] = ()


def _crash_problem(crash: CrashFact) -> str:
    what = f"pair {crash.test}" if crash.is_pair else repr(crash.test or "unknown test")
    batch = f" (answering it together with {crash.together} other pair(s))" if crash.together else ""
    if crash.answered:
        after = "; rerun on another worker, it then answered (the crash still fails the run)"
    elif crash.retried is False:
        after = "; not retried: it crashed a worker while answered alone"
    else:
        after = "; no answer was recorded for it"
    return f"xdist worker {crash.worker} crashed while running {what}{batch}{after}"


def find_problems(facts: RunFacts) -> list[str]:
    """Everything that makes a run unfit to pass a gate, whatever its conditions say."""
    if facts.load_errors:
        # Every other problem (pairs never answered, the early stop) follows from this one.
        return [f"{LOAD_FAILED}: {reason}" for reason in dict.fromkeys(facts.load_errors)]
    problems = [_crash_problem(crash) for crash in facts.crashes]
    if facts.model_errors:
        shown = ", ".join(sorted(facts.model_errors)[:10])
        problems.append(f"{len(facts.model_errors)} pair(s) had model errors: {shown}")
    if facts.errors:
        first = next(iter(facts.errors.values()))
        problems.append(f"{len(facts.errors)} pair(s) errored before answering, e.g. {first}")
    if facts.duplicates:
        problems.append(f"pair(s) reported more than once: {', '.join(sorted(set(facts.duplicates)))}")
    if facts.budget_stop:
        problems.append(f"{BUDGET_STOP}: {facts.budget_stop}; {budget_stop_account(facts)}")
    elif facts.silent:
        problems.append(f"{facts.silent} selected pair(s) reported no outcome (crashed or not run)")
    if facts.other_failures:
        shown = "; ".join(facts.other_failures[:5])
        problems.append(f"{len(facts.other_failures)} test(s) outside the benchmark failed: {shown}")
    problems += [f"teardown failed after {error}" for error in facts.teardown_errors[:5]]
    if facts.stopped_early and not facts.budget_stop:
        problems.append("the run stopped early (-x / --maxfail / interrupted); results are incomplete")
    if not facts.scored:
        problems.append("no pair was scored")
    if not facts.mismatch_allowed:
        problems += [f"baseline cannot be compared: {m}" for m in facts.baseline_mismatches]
    return problems


def budget_stop_account(facts: RunFacts) -> str:
    """What a budget stop kept, and where: the pairs scored, those left, the answers paid for."""
    scored = f"{facts.scored} pair(s) answered before the stop are scored, {facts.unanswered} pair(s) were not answered"
    if facts.answer_store:
        return (
            f"{scored}; every answer received is kept in the answer store {facts.answer_store} "
            "(run again with a larger budget to go on: what is stored is not asked again)"
        )
    return (
        f"{scored}; with --no-store the answers received are kept only in this run's results.json "
        "(a rerun pays for them again)"
    )


def baseline_warnings(facts: RunFacts) -> list[str]:
    return [f"baseline differs (allowed): {m}" for m in facts.baseline_mismatches] if facts.mismatch_allowed else []


def subset_findings(scored: int, total: int, required: int | None, setting: str) -> tuple[str | None, str | None]:
    """(problem, warning) for a gate judged on fewer pairs than the dataset holds."""
    if required is not None and scored < required:
        return (
            f"the gate needs {required} scored pair(s) (--gate-min-pairs={setting}) "
            f"but this run scored {scored} of the dataset's {total}",
            None,
        )
    if scored < total:
        return None, (
            f"the gate was judged on a subset: {scored} of {total} pairs scored "
            f"(-k/-m/--lf selection, skips or errors); --gate-min-pairs={total} makes that a failure"
        )
    return None, None


def required_pairs(setting: str | int | None, total: int) -> int | None:
    if setting is None:
        return None
    return total if setting == "all" else int(setting)


def decide(
    results: Sequence[ConditionRecord],
    facts: RunFacts,
    warnings: Sequence[str] = (),
    min_pairs: str | int | None = None,
    min_pairs_from_file: bool = False,
) -> Verdict:
    """The verdict: with no condition there is no gate; with one, it passes only when every condition
    holds and the run has no problem (a subset below --gate-min-pairs is one)."""
    problems = find_problems(facts)
    notes = [*warnings, *baseline_warnings(facts)]
    if not results:
        return Verdict(False, None, (), problems, notes)
    setting = f"{min_pairs}" + ("; [tool.mediconfusion] gates hold for every pair" if min_pairs_from_file else "")
    subset_problem, subset_warning = subset_findings(
        facts.scored, facts.pairs_in_dataset, required_pairs(min_pairs, facts.pairs_in_dataset), setting
    )
    if facts.load_errors:  # no pair could be scored: a subset is not the point
        subset_problem = subset_warning = None
    problems += [subset_problem] if subset_problem else []
    notes += [subset_warning] if subset_warning else []
    passed = all(r.passed for r in results) and not problems
    return Verdict(True, passed, tuple(results), tuple(problems), tuple(notes))


def exit_status(pytest_status: int, verdict: Verdict | None, deferred: bool = False) -> int:
    """With a gate, its verdict replaces pytest's pass/fail status; other statuses (interrupted,
    internal error, usage error, no tests) always stand. A shard (``deferred``) leaves the gate to
    ``mediconfusion merge``: it fails only for problems, never for pairs a model got wrong."""
    if verdict is not None and any(p.startswith((LOAD_FAILED, BUDGET_STOP)) for p in verdict.problems):
        # xdist ends a run whose workers stop at once as "interrupted"; it failed, and says why.
        return EXIT_FAILED if pytest_status in (*GATEABLE, INTERRUPTED) else pytest_status
    if deferred and verdict is not None and pytest_status in GATEABLE:
        return EXIT_FAILED if verdict.problems else EXIT_OK
    if verdict is None or not verdict.gated or pytest_status not in GATEABLE:
        return pytest_status
    return EXIT_OK if verdict.passed else EXIT_FAILED
