"""What the controller hears about a run: outcomes from workers, errors, skips, crashes, failures beside the suite.

It only records; deciding what the records mean is results/decision.py's job.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mediconfusion_tests.scoring.outcome import PairOutcome
from mediconfusion_tests.scoring.probes import ProbeOutcome

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence


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


@dataclass
class Collector:
    outcomes: dict[str, PairOutcome] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    duplicates: list[str] = field(default_factory=list)
    crashes: dict[str, Crash] = field(default_factory=dict)
    #: Failures that are not pair outcomes: other tests ("node id (when): message"), teardown errors.
    other_failures: list[str] = field(default_factory=list)
    teardown_errors: list[str] = field(default_factory=list)
    #: Pairs selected for this run (after -m / -k), once collection is known.
    expected: set[str] | None = None
    #: What each process reports about its model, by xdist worker id ("main" without xdist).
    instances: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Probe outcomes, skips and errors, by "probe:pair id".
    probes: dict[str, ProbeOutcome] = field(default_factory=dict)
    probe_skips: dict[str, str] = field(default_factory=dict)
    probe_errors: dict[str, str] = field(default_factory=dict)

    def add_probe(self, data: dict[str, Any]) -> None:
        outcome = ProbeOutcome.from_dict(data)
        self.probes[f"{outcome.probe}:{outcome.pair_id}"] = outcome

    def add_probe_skip(self, key: str, reason: str) -> None:
        self.probe_skips[key] = reason

    def add_probe_error(self, key: str, message: str) -> None:
        self.probe_errors.setdefault(key, message)

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

    def expect(self, pair_ids: Iterable[str]) -> None:
        self.expected = set(pair_ids)

    def silent(self) -> set[str]:
        """Selected pairs with neither an outcome, an error nor a skip."""
        if self.expected is None:
            return set()
        return self.expected - set(self.outcomes) - set(self.errors) - set(self.skipped)

    def settle_crashes(self, pair_ids: Iterable[str]) -> None:
        """Pairs that crashed a worker and never got an outcome become errors (once the run is over)."""
        known = set(pair_ids)
        for crash in self.crashes.values():
            if crash.test is None or crash.test in self.outcomes or crash.test not in known:
                continue
            workers = sorted(c.worker for c in self.crashes.values() if c.test == crash.test)
            self.errors.setdefault(crash.test, f"crashed xdist worker(s) {', '.join(workers)} and was not answered")

    def ordered_outcomes(self, pair_order: Sequence[str]) -> list[PairOutcome]:
        return [self.outcomes[pair_id] for pair_id in pair_order if pair_id in self.outcomes]
