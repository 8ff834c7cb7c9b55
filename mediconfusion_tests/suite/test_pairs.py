"""The shipped MediConfusion suite: one case per confusing pair.

A case passes only when the model answers both images of the pair correctly.
The plugin parametrizes ``mediconfusion_pair`` (ids ``pair-10001``, one mark
per category) and rolls every outcome up into the run's metrics and gate.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from mediconfusion_tests.errors import RunStopped
from mediconfusion_tests.results.decision import NOT_RUN

if TYPE_CHECKING:
    from collections.abc import Callable

    from mediconfusion_tests.data.schema import Pair
    from mediconfusion_tests.run.engine import Engine
    from mediconfusion_tests.scoring.outcome import PairOutcome


def test_pair(
    mediconfusion_pair: Pair,
    mediconfusion_engine: Engine,
    mediconfusion_record_outcome: Callable[[PairOutcome], None],
    request: pytest.FixtureRequest,
) -> None:
    try:
        outcome = mediconfusion_engine.run_pair(mediconfusion_pair)
    except RunStopped as exc:
        # A spent budget: stop here, keeping every pair answered so far (the gate then fails: a partial run).
        request.session.shouldstop = f"MediConfusion: {exc}"
        pytest.skip(f"{NOT_RUN}{exc}")
    mediconfusion_record_outcome(outcome)
    report = outcome.failure_report()
    if report is not None:
        pytest.fail(report, pytrace=False)
