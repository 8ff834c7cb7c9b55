"""RunSession: the controller's side of a run, from collected outcomes to an exit status.

It owns the collector (filled by the plugin's hooks), and at the end turns what
it heard into evidence (assemble.py), which finalize.py decides and records
exactly as it does for a merge of shards, then writes the files (writer.py).
No pytest import here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from mediconfusion_tests.reporting.terminal import Line, terminal_summary
from mediconfusion_tests.results.decision import GATEABLE, exit_status
from mediconfusion_tests.results.document import AuditRecord, ResultsDocument
from mediconfusion_tests.run.assemble import RunContext, evidence
from mediconfusion_tests.run.collector import Collector
from mediconfusion_tests.run.finalize import finalize
from mediconfusion_tests.run.plan import RunPlan, run_identity
from mediconfusion_tests.run.writer import write_outputs

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
        complete = not stopped_early and pytest_status in GATEABLE and not self.collector.silent()
        context = RunContext(self.plan, self.pairs, self.spec, self.entry, self.rootdir, self.workers, self.started)
        identity = run_identity(config, self.plan.dataset)
        found = evidence(
            context,
            self.collector,
            identity,
            self._audit(outcomes),
            self.plan.warnings,
            complete,
            time.time(),
            stopped_early,
        )
        verdict, self.document = finalize(found)
        self.written = write_outputs(self.document, Path(config.results_dir), self.allure_dir)
        return exit_status(pytest_status, verdict, deferred=bool(config.shard))

    def terminal_lines(self, status: int | None = None) -> list[Line]:
        if self.document is None:
            return []
        return terminal_summary(self.document, self.written, status, Path.cwd())
