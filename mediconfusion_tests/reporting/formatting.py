"""Numbers and outcomes as every renderer writes them: fractions as percent, a probe that did not hold."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

    from mediconfusion_tests.results.document import ProbePairRecord, ResultsDocument

MISSING = "n/a"


def percent(value: float | None, digits: int = 2, missing: str = MISSING, sign: bool = False) -> str:
    """0.1875 -> "18.75" (or "18.75%" with ``sign``); None -> ``missing``."""
    if value is None:
        return missing
    return f"{100 * value:.{digits}f}" + ("%" if sign else "")


def points(value: float | None, digits: int = 2, missing: str = MISSING) -> str:
    """A difference of fractions in signed percentage points: +3.12."""
    return missing if value is None else f"{100 * value:+.{digits}f}"


def with_interval(value: float | None, ci: Sequence[float] | None, digits: int = 1, missing: str = MISSING) -> str:
    """18.8 [6.6-43.0]"""
    if value is None:
        return missing
    return percent(value, digits) + (f" [{100 * ci[0]:.{digits}f}-{100 * ci[1]:.{digits}f}]" if ci else "")


def benchmark_name(document: ResultsDocument) -> str:
    """ "MediConfusion", or the user's own pair dataset by name (its reports do not speak for the paper's)."""
    return "MediConfusion" if document.dataset.is_mediconfusion else f"Pairs {document.dataset.label}"


def probe_failure_text(record: ProbePairRecord) -> str:
    """What did not hold, without the probe and pair the line or card already names."""
    outcome = record.outcome()
    message = (outcome.failure_message() if outcome is not None else None) or record.reason or ""
    message = message.removeprefix(f"{record.probe.upper()} {record.pair_id}: ")
    return message.removeprefix(f"{record.probe} probe of pair {record.pair_id}: ")
