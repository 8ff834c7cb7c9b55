"""The shipped MediConfusion suite: one case per confusing pair, and with --probes one per probe and pair.

A case passes only when the model answers both images of the pair correctly.
The plugin parametrizes ``mediconfusion_pair`` (ids ``pair-10001``, one mark
per category) and rolls every outcome up into the run's metrics and gate.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NoReturn

import pytest

from mediconfusion_tests.errors import RunStopped
from mediconfusion_tests.results.decision import NOT_RUN

if TYPE_CHECKING:
    from collections.abc import Callable

    from mediconfusion_tests.data.schema import Pair
    from mediconfusion_tests.run.engine import Engine
    from mediconfusion_tests.scoring.outcome import PairOutcome
    from mediconfusion_tests.scoring.probes import ProbeOutcome, ProbeSettings


def _stop(exc: RunStopped) -> NoReturn:
    """A spent budget: this case was not answered. The run goes on through the remaining cases without
    asking the model again, so every pair answered before the stop is still scored (the gate then
    fails: a partial run)."""
    pytest.skip(f"{NOT_RUN}{exc}")


def test_pair(
    mediconfusion_pair: Pair,
    mediconfusion_engine: Engine,
    mediconfusion_record_outcome: Callable[[PairOutcome], None],
) -> None:
    try:
        outcome = mediconfusion_engine.run_pair(mediconfusion_pair)
    except RunStopped as exc:
        _stop(exc)
    mediconfusion_record_outcome(outcome)
    report = outcome.failure_report()
    if report is not None:
        pytest.fail(report, pytrace=False)


def test_probe(
    mediconfusion_probe: tuple[str, Pair],
    mediconfusion_engine: Engine,
    mediconfusion_record_probe: Callable[[ProbeOutcome], None],
    mediconfusion_probe_settings: ProbeSettings,
) -> None:
    """A robustness probe of one pair (--probes): passes when the decisions held (see scoring/probes.py)."""
    from mediconfusion_tests.run.probing import run_probe

    probe, pair = mediconfusion_probe
    try:
        outcome = run_probe(mediconfusion_engine, pair, probe, mediconfusion_probe_settings)
    except RunStopped as exc:
        _stop(exc)
    mediconfusion_record_probe(outcome)
    message = outcome.failure_message()
    if message is not None:
        pytest.fail(message, pytrace=False)


test_probe.__mediconfusion_probe__ = True  # type: ignore[attr-defined]
