"""RunSession: the controller's side of a run.

It receives every pair outcome (from this process or from xdist workers, as
builtin types on test reports), computes the metrics once, evaluates the gate,
writes the run folder and decides the exit status. No pytest import here.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mediconfusion_tests.comparison import Comparison, compare, run_identity
from mediconfusion_tests.config import RunConfig
from mediconfusion_tests.data.schema import Pair
from mediconfusion_tests.gate import CheckResult, ConditionResult, evaluate
from mediconfusion_tests.models.registry import ModelEntry, ModelSpec
from mediconfusion_tests.plan import RunPlan, gate_conditions, read_baseline
from mediconfusion_tests.prompts import prompt_source
from mediconfusion_tests.reporting.environment import environment
from mediconfusion_tests.reporting.html_report import write_report
from mediconfusion_tests.reporting.results_json import SCHEMA, SCHEMA_VERSION, pair_records, write_json
from mediconfusion_tests.reporting.run_folder import create_run_folder, update_latest
from mediconfusion_tests.reporting.summary import markdown_summary, terminal_summary
from mediconfusion_tests.scoring.harness import total_table
from mediconfusion_tests.scoring.metrics import Metrics, compute_metrics
from mediconfusion_tests.scoring.outcome import PairOutcome

EXIT_OK = 0
EXIT_FAILED = 1
#: pytest exit statuses that a gate may replace (others: interrupted, internal, usage, no tests).
GATEABLE = (0, 1)


@dataclass
class Verdict:
    """The outcome of the run as a release decision."""

    gated: bool
    passed: bool | None
    results: list[ConditionResult | CheckResult] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    #: Differences from the baseline the user allowed: shown loudly, not failing.
    warnings: list[str] = field(default_factory=list)


@dataclass
class Crash:
    """An xdist worker that died; a problem of the run even when its pairs were answered again."""

    worker: str
    #: The test xdist says it was running: a pair id, or the node id of another test.
    test: str | None = None
    #: Pairs handed to the worker and not finished when it died (answered together in one batch).
    in_flight: list[str] = field(default_factory=list)
    #: Whether the crashed test was scheduled again (None: the scheduler was not ours).
    retried: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"worker": self.worker, "pair_id": self.test, "in_flight": self.in_flight, "retried": self.retried}


@dataclass
class RunSession:
    plan: RunPlan
    pairs: Sequence[Pair]
    spec: ModelSpec
    entry: ModelEntry
    rootdir: Path
    workers: int = 0
    started: float = field(default_factory=time.time)
    outcomes: dict[str, PairOutcome] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    duplicates: list[str] = field(default_factory=list)
    crashes: dict[str, Crash] = field(default_factory=dict)
    #: Failures that are not pair outcomes: other tests, teardown errors ("node id (when): message").
    other_failures: list[str] = field(default_factory=list)
    teardown_errors: list[str] = field(default_factory=list)
    expected: set[str] | None = None
    complete: bool = False
    model_info: dict[str, dict[str, Any]] = field(default_factory=dict)
    allure_dir: Path | None = None
    written: dict[str, Path] = field(default_factory=dict)
    verdict: Verdict | None = None
    metrics: Metrics | None = None
    audit: dict[str, Any] | None = None
    comparison: Comparison | None = None

    @property
    def config(self) -> RunConfig:
        return self.plan.config

    # -- collecting -------------------------------------------------------
    def add_outcome(self, data: dict[str, Any]) -> None:
        outcome = PairOutcome.from_dict(data)
        if outcome.pair_id in self.outcomes:
            self.duplicates.append(outcome.pair_id)
        self.outcomes[outcome.pair_id] = outcome

    def add_error(self, pair_id: str, message: str) -> None:
        self.errors.setdefault(pair_id, message)

    def add_skip(self, pair_id: str, reason: str) -> None:
        self.skipped[pair_id] = reason

    def add_crash(self, worker: str, test: str) -> None:
        """xdist's report of a worker that died while running ``test`` (a pair id or node id)."""
        self.crashes.setdefault(worker, Crash(worker)).test = test

    def note_crash(self, worker: str, test: str, in_flight: list[str], retried: bool) -> None:
        """What the chunk scheduler knew of the same crash: the pairs in flight, and whether it retries."""
        crash = self.crashes.setdefault(worker, Crash(worker))
        crash.test, crash.in_flight, crash.retried = crash.test or test, in_flight, retried

    def add_other_failure(self, nodeid: str, when: str, message: str) -> None:
        self.other_failures.append(f"{nodeid} ({when}): {message}")

    def add_teardown_error(self, nodeid: str, message: str) -> None:
        self.teardown_errors.append(f"{nodeid}: {message}")

    def crashed_unanswered(self) -> dict[str, str]:
        """Pairs that crashed a worker and never got an outcome, with the reason to record."""
        out: dict[str, str] = {}
        for crash in self.crashes.values():
            if crash.test is None or crash.test in self.outcomes or crash.test not in self.pair_ids:
                continue
            workers = sorted(c.worker for c in self.crashes.values() if c.test == crash.test)
            out[crash.test] = f"crashed xdist worker(s) {', '.join(workers)} and was not answered"
        return out

    @property
    def pair_ids(self) -> set[str]:
        return {pair.id for pair in self.pairs}

    def expect(self, pair_ids: Sequence[str]) -> None:
        """Pairs selected for this run (after -m / -k deselection)."""
        self.expected = set(pair_ids)

    def silent(self) -> set[str]:
        """Selected pairs with neither an outcome, an error nor a skip."""
        if self.expected is None:
            return set()
        return self.expected - set(self.outcomes) - set(self.errors) - set(self.skipped)

    # -- deciding ---------------------------------------------------------
    def _crash_problems(self) -> list[str]:
        problems = []
        for crash in self.crashes.values():
            what = f"pair {crash.test}" if crash.test in self.pair_ids else repr(crash.test or "unknown test")
            others = [p for p in crash.in_flight if p != crash.test]
            batch = f" (answering it together with {len(others)} other pair(s))" if others else ""
            if crash.test in self.outcomes:
                after = "; rerun on another worker, it then answered (the crash still fails the run)"
            elif crash.retried is False:
                after = "; not retried: it crashed a worker while answered alone"
            else:
                after = "; no answer was recorded for it"
            problems.append(f"xdist worker {crash.worker} crashed while running {what}{batch}{after}")
        return problems

    def problems(self, stopped_early: bool) -> list[str]:
        problems = self._crash_problems()
        model_errors = sorted(pid for pid, o in self.outcomes.items() if o.error)
        if model_errors:
            problems.append(f"{len(model_errors)} pair(s) had model errors: {', '.join(model_errors[:10])}")
        if self.errors:
            first = next(iter(self.errors.values()))
            problems.append(f"{len(self.errors)} pair(s) errored before answering, e.g. {first}")
        if self.duplicates:
            problems.append(f"pair(s) reported more than once: {', '.join(sorted(set(self.duplicates)))}")
        if self.expected is not None:
            silent = self.silent()
            if silent:
                problems.append(f"{len(silent)} selected pair(s) reported no outcome (crashed or not run)")
        if self.other_failures:
            problems.append(
                f"{len(self.other_failures)} test(s) outside the benchmark failed: "
                + "; ".join(self.other_failures[:5])
            )
        problems += [f"teardown failed after {error}" for error in self.teardown_errors[:5]]
        if stopped_early:
            problems.append("the run stopped early (-x / --maxfail / interrupted); results are incomplete")
        if not any(o.answers is not None for o in self.outcomes.values()):
            problems.append("no pair was scored")
        return problems

    def decide(self, metrics: Metrics, stopped_early: bool) -> Verdict:
        conditions = gate_conditions(self.config, self.plan.categories)
        problems = self.problems(stopped_early)
        comparison, warnings = self.comparison, []
        if comparison is not None and comparison.mismatches:
            if self.config.allow_baseline_mismatch:
                warnings = [f"baseline differs (allowed): {m}" for m in comparison.mismatches]
            else:
                problems += [f"baseline cannot be compared: {m}" for m in comparison.mismatches]
        results: list[ConditionResult | CheckResult] = list(
            evaluate(
                conditions,
                metrics,
                comparison.baseline_metrics if comparison else None,
                comparison.new_metrics if comparison else None,
            )
        )
        results += self._comparison_checks()
        warnings = [*self.plan.warnings, *warnings, *self.store_warnings()]
        if not results:
            return Verdict(False, None, [], problems, warnings)
        subset_problem, subset_warning = self._subset(metrics.overall.pairs)
        problems += subset_problem
        warnings += subset_warning
        passed = all(r.passed for r in results) and not problems
        return Verdict(True, passed, results, problems, warnings)

    def required_pairs(self) -> int | None:
        wanted = self.config.gate_min_pairs
        if wanted is None:
            return None
        return len(self.pairs) if wanted == "all" else int(wanted)

    def _subset(self, scored: int) -> tuple[list[str], list[str]]:
        """A gate written for the whole benchmark must not hold silently on a few pairs."""
        total = len(self.pairs)
        required = self.required_pairs()
        if required is not None and scored < required:
            origin = "[tool.mediconfusion] gates hold for every pair" if self.config.gates_from_file else ""
            return [
                f"the gate needs {required} scored pair(s) (--gate-min-pairs={self.config.gate_min_pairs}"
                + (f"; {origin}" if origin and self.config.gate_min_pairs == "all" else "")
                + f") but this run scored {scored} of the dataset's {total}"
            ], []
        if scored < total:
            return [], [
                f"the gate was judged on a subset: {scored} of {total} pairs scored "
                f"(-k/-m/--lf selection, skips or errors); --gate-min-pairs={total} makes that a failure"
            ]
        return [], []

    def store_warnings(self) -> list[str]:
        unreadable = sum(int(info.get("store_unreadable", 0) or 0) for info in self.model_info.values())
        if not unreadable:
            return []
        return [f"{unreadable} stored answer(s) could not be read from the answer store and were answered again"]

    def _comparison_checks(self) -> list[CheckResult]:
        comparison, config = self.comparison, self.config
        if comparison is None:
            return []
        checks = []
        lost, gained = comparison.set_correct.only_baseline, comparison.set_correct.only_new
        if config.fail_on_significant_regression:
            p = comparison.set_correct.p_value
            significant = comparison.regressed and p < config.alpha
            checks.append(
                CheckResult(
                    "no significant regression",
                    not significant,
                    f"McNemar exact p = {p:.4g} on set-correct pairs "
                    f"({lost} lost, {gained} gained; alpha {config.alpha:g})",
                )
            )
        if config.max_regressed_pairs is not None:
            checks.append(
                CheckResult(
                    f"regressed pairs <= {config.max_regressed_pairs}",
                    lost <= config.max_regressed_pairs,
                    f"{lost} pair(s) the baseline answered right are now wrong",
                )
            )
        return checks

    def exit_status(self, pytest_status: int) -> int:
        """With a gate, the gate's verdict replaces pytest's pass/fail status."""
        if self.verdict is None or not self.verdict.gated or pytest_status not in GATEABLE:
            return pytest_status
        return EXIT_OK if self.verdict.passed else EXIT_FAILED

    # -- writing ----------------------------------------------------------
    def identity(self) -> dict[str, Any]:
        return run_identity(self.plan.dataset.to_dict(), self.config.to_dict(), prompt_source(self.config.prompts))

    def finish(self, pytest_status: int, stopped_early: bool) -> int:
        for pair_id, reason in self.crashed_unanswered().items():
            self.errors.setdefault(pair_id, reason)
        outcomes = [self.outcomes[p.id] for p in self.pairs if p.id in self.outcomes]
        self.metrics = compute_metrics(outcomes)
        if self.config.baseline:
            baseline = read_baseline(self.config.baseline)
            self.comparison = compare(baseline, outcomes, self.identity(), self.config.baseline)
        self.verdict = self.decide(self.metrics, stopped_early)
        self.complete = not stopped_early and pytest_status in GATEABLE and not self.silent()
        audit = self.entry.load_audit()
        if audit is not None:
            self.audit = audit(self.spec, self.config, outcomes, self.plan.categories)
        self.write(outcomes)
        return self.exit_status(pytest_status)

    def skips(self) -> dict[str, str]:
        selected = self.expected
        planned = {k: v for k, v in self.plan.skipped.items() if selected is None or k in selected}
        return {**planned, **self.skipped}

    def document(self, outcomes: list[PairOutcome]) -> dict[str, Any]:
        assert self.metrics is not None
        assert self.verdict is not None
        scored = [o for o in outcomes if o.answers is not None]
        disagreements = sum(a.decision != a.alternative_decision for o in scored for a in o.answers or ())
        classes = Counter(o.failure_class for o in outcomes if o.failure_class)
        return {
            "schema": SCHEMA,
            "schema_version": SCHEMA_VERSION,
            "run": {
                "id": self.plan.run_id,
                "started": self.started,
                "finished": time.time(),
                "duration_s": round(time.time() - self.started, 3),
            },
            "config": self.config.to_dict(),
            "environment": environment(self.rootdir, self.workers),
            "dataset": self.plan.dataset.to_dict()
            | {"layout": None if self.plan.layout is None else vars(self.plan.layout)},
            "model": {
                "spec": self.spec.raw,
                "name": self.spec.name,
                "summary": self.entry.summary,
                "note": self.entry.note,
                "instances": self.model_info,
                "audit": self.audit,
            },
            "parser": {
                "name": self.config.answer_parser if self.config.mode == "mc" else None,
                "disagreements": disagreements if self.config.mode == "mc" else None,
            },
            "counts": {
                "pairs_in_dataset": len(self.pairs),
                "pairs_scored": len(scored),
                "pairs_errored": len([o for o in outcomes if o.error]) + len(self.errors),
                "pairs_skipped": len(self.skips()),
                "failure_classes": dict(classes),
            },
            "metrics": self.metrics.to_dict(),
            "harness_counts": total_table(scored, self.plan.categories),
            "gate": {
                "conditions": [r.to_dict() for r in self.verdict.results],
                "passed": self.verdict.passed,
            }
            if self.verdict.gated
            else None,
            "problems": self.verdict.problems,
            "crashes": [crash.to_dict() for crash in self.crashes.values()],
            "other_failures": self.other_failures + [f"teardown: {e}" for e in self.teardown_errors],
            "warnings": self.verdict.warnings,
            "prompts": prompt_source(self.config.prompts),
            "baseline": None
            if self.comparison is None
            else self.comparison.to_dict() | {"mismatch_allowed": self.config.allow_baseline_mismatch},
            "errors": self.errors,
            "pairs": pair_records(self.pairs, self.outcomes, self.skips()),
        }

    def write(self, outcomes: list[PairOutcome]) -> None:
        """results.json first (everything else can be rebuilt from it), then the reports."""
        results_dir = Path(self.config.results_dir)
        assert self.metrics is not None
        folder = create_run_folder(results_dir, self.plan.run_id)
        document = self.document(outcomes)
        write_json(folder / "results.json", document)
        summary = markdown_summary(document, self.metrics)
        (folder / "summary.md").write_text(summary, encoding="utf-8")
        self.written = {"results": folder / "results.json", "summary": folder / "summary.md"}
        self.written["report"] = write_report(document, folder / "report.html")
        step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
        if step_summary:
            with open(step_summary, "a", encoding="utf-8") as handle:
                handle.write(summary + "\n")
            self.written["step summary"] = Path(step_summary)
        if self.allure_dir is not None:
            from mediconfusion_tests.reporting.allure_case import write_run_files

            write_run_files(self.allure_dir, document)
            self.written["allure results"] = self.allure_dir
        if self.complete:
            # A partial run (stopped, interrupted, pairs missing) never replaces the last complete one.
            self.written["latest"] = update_latest(results_dir, folder)

    def terminal_lines(self) -> list[str]:
        if self.metrics is None or self.verdict is None:
            return []
        return terminal_summary(self, self.metrics, self.verdict)
