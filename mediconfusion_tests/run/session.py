"""RunSession: the controller's side of a run, from collected outcomes to an exit status.

It owns the collector (filled by the plugin's hooks), and at the end runs the
steps in order: metrics, baseline comparison, the release decision
(results/decision.py), the typed document (assemble.py), the files (writer.py).
No pytest import here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from mediconfusion_tests.reporting.terminal import Line, terminal_summary
from mediconfusion_tests.results.comparison import Comparison, compare, regression_checks
from mediconfusion_tests.results.decision import GATEABLE, decide, exit_status
from mediconfusion_tests.results.document import AuditRecord, ResultsDocument, scrub_document
from mediconfusion_tests.results.gate import CheckResult, ConditionResult, evaluate
from mediconfusion_tests.run.assemble import (
    RunContext,
    assemble,
    audit_warnings,
    fidelity_warnings,
    instance_warnings,
    run_facts,
)
from mediconfusion_tests.run.collector import Collector
from mediconfusion_tests.run.plan import RunPlan, gate_conditions, read_baseline, run_identity
from mediconfusion_tests.run.writer import write_outputs
from mediconfusion_tests.scoring.metrics import compute_metrics
from mediconfusion_tests.scoring.probes import baseline_probe_figures, probe_figures

if TYPE_CHECKING:
    from mediconfusion_tests.config import RunConfig
    from mediconfusion_tests.data.schema import Pair
    from mediconfusion_tests.models.base import ModelSpec
    from mediconfusion_tests.models.registry import ModelEntry


@dataclass
class RunSession:
    plan: RunPlan
    pairs: list[Pair]
    spec: ModelSpec
    entry: ModelEntry
    rootdir: Path
    workers: int = 0
    allure_dir: Path | None = None
    started: float = field(default_factory=time.time)
    collector: Collector = field(default_factory=Collector)
    document: ResultsDocument | None = None
    written: dict[str, Path] = field(default_factory=dict)

    @property
    def config(self) -> RunConfig:
        return self.plan.config

    def _audit(self, outcomes: list) -> AuditRecord | None:  # type: ignore[type-arg]
        audit = self.entry.load_audit()
        if audit is None:
            return None
        return AuditRecord.model_validate(audit(self.spec, self.config, outcomes, self.plan.categories))

    def finish(self, pytest_status: int, stopped_early: bool) -> int:
        """Decide and write; the exit status pytest should end with."""
        config = self.config
        self.collector.settle_crashes(pair.id for pair in self.pairs)
        outcomes = self.collector.ordered_outcomes([pair.id for pair in self.pairs])
        metrics = compute_metrics(outcomes)
        comparison: Comparison | None = None
        results: list[ConditionResult | CheckResult] = []
        # A shard holds part of the pairs: `mediconfusion merge` gates and compares the whole.
        if config.baseline and not config.shard:
            identity = run_identity(config, self.plan.dataset)
            comparison = compare(read_baseline(config.baseline), outcomes, identity, config.baseline)
        if not config.shard:
            results += evaluate(
                gate_conditions(config, self.plan.categories),
                metrics,
                comparison.baseline_metrics if comparison else None,
                comparison.new_metrics if comparison else None,
                probe_figures(self.collector.probes.values()),
                baseline_probe_figures(read_baseline(config.baseline)) if config.baseline else None,
            )
        if comparison is not None:
            results += regression_checks(
                comparison, config.fail_on_significant_regression, config.alpha, config.max_regressed_pairs
            )
        audit = self._audit(outcomes)
        store = str(config.answer_store_path()) if config.use_store else None
        facts = run_facts(
            self.collector, self.pairs, outcomes, stopped_early, comparison, config.allow_baseline_mismatch, store
        )
        warnings = [
            *self.plan.warnings,
            *instance_warnings(self.collector.instances),
            *audit_warnings(audit),
            *fidelity_warnings(outcomes),
        ]
        from_file = config.gates_from_file and config.gate_min_pairs == "all"
        verdict = decide(results, facts, warnings, config.gate_min_pairs, from_file)
        complete = (
            not stopped_early and not facts.budget_stop and pytest_status in GATEABLE and not self.collector.silent()
        )
        context = RunContext(self.plan, self.pairs, self.spec, self.entry, self.rootdir, self.workers, self.started)
        self.document = scrub_document(
            assemble(context, self.collector, outcomes, metrics, verdict, comparison, audit, complete, time.time())
        )
        self.written = write_outputs(self.document, Path(config.results_dir), self.allure_dir)
        return exit_status(pytest_status, verdict, deferred=bool(config.shard))

    def terminal_lines(self, status: int | None = None) -> list[Line]:
        if self.document is None:
            return []
        return terminal_summary(self.document, self.written, status, Path.cwd())
