"""The paper-style table (one row per category plus All), for terminal and markdown."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mediconfusion_tests.reporting.formatting import percent
from mediconfusion_tests.reporting.markdown_text import md

if TYPE_CHECKING:
    from collections.abc import Sequence

    from mediconfusion_tests.results.document import ProbesRecord
    from mediconfusion_tests.scoring.metrics import Figures, Metrics

HEADERS = ("Category", "Images", "Set acc.", "Indiv. acc.", "Confusion", "Invalid", "Valid pairs")
_WIDTHS = (18, 8, 10, 13, 11, 9, 13)
RANDOM_SET_ACCURACY = 0.25


def _row(name: str, figures: Figures) -> tuple[str, ...]:
    return (
        name,
        str(figures.images),
        percent(figures.set_accuracy.value, missing="-"),
        percent(figures.individual_accuracy.value, missing="-"),
        percent(figures.confusion.value, missing="-"),
        percent(figures.invalid_rate.value, missing="-"),
        str(figures.valid_pairs),
    )


def table_rows(metrics: Metrics) -> list[tuple[str, ...]]:
    """Categories with the paper's image-weighted figures, then All."""
    rows = [_row(name, cat.paper) for name, cat in metrics.categories.items()]
    rows.append(_row("All", metrics.overall))
    return rows


def terminal_table(metrics: Metrics) -> list[str]:
    def fmt(cells: Sequence[str]) -> str:
        first = cells[0][: _WIDTHS[0] - 1].ljust(_WIDTHS[0])
        return first + "".join(c.rjust(w) for c, w in zip(cells[1:], _WIDTHS[1:], strict=True))

    rows = table_rows(metrics)
    rule = "-" * sum(_WIDTHS)
    return [fmt(HEADERS), rule, *(fmt(r) for r in rows[:-1]), rule, fmt(rows[-1])]


def markdown_table(metrics: Metrics) -> list[str]:
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "|".join(["---"] + ["---:"] * (len(HEADERS) - 1)) + "|"]
    rows = table_rows(metrics)
    for row in rows[:-1]:
        lines.append("| " + " | ".join((md(row[0]), *row[1:])) + " |")
    last = rows[-1]
    lines.append("| " + " | ".join(f"**{cell}**" for cell in last) + " |")
    return lines


def interval_line(figures: Figures) -> str:
    """Set accuracy with its interval, and what one pair is worth, for scale."""
    p = figures.set_accuracy
    if p.value is None or p.ci95 is None:
        return "set accuracy undefined: no pair was scored"
    low, high = p.ci95
    return (
        f"set accuracy {percent(p.value, sign=True)} (95% CI {100 * low:.1f}-{100 * high:.1f}%, {p.k} of {p.n} pairs; "
        f"one pair = {100 / p.n:.2f} points); random guessing scores {100 * RANDOM_SET_ACCURACY:.0f}%"
    )


PROBE_HEADERS = ("Probe", "Pairs", "Consistency", "95% CI", "Errors", "Skipped", "Paraphrase set acc.")
_PROBE_WIDTHS = (12, 7, 13, 14, 8, 9, 21)


def _interval(ci95: tuple[float, float] | None) -> str:
    return "-" if ci95 is None else f"{100 * ci95[0]:.1f}-{100 * ci95[1]:.1f}"


def probe_rows(probes: ProbesRecord) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for name, figures in probes.figures.items():
        rows.append(
            (
                name,
                str(figures.probed),
                percent(figures.consistency.value, missing="-"),
                _interval(figures.consistency.ci95),
                str(figures.errors),
                str(figures.skipped),
                "" if figures.set_accuracy is None else percent(figures.set_accuracy.value, missing="-"),
            )
        )
    return rows


def probe_table(probes: ProbesRecord) -> list[str]:
    """The probes' consistency rates, one row per probe, for the terminal."""

    def fmt(cells: Sequence[str]) -> str:
        first = cells[0].ljust(_PROBE_WIDTHS[0])
        return first + "".join(c.rjust(w) for c, w in zip(cells[1:], _PROBE_WIDTHS[1:], strict=True))

    rows = probe_rows(probes)
    if not rows:
        return []
    rule = "-" * sum(_PROBE_WIDTHS)
    return [fmt(PROBE_HEADERS), rule, *(fmt(r) for r in rows)]


def probe_markdown(probes: ProbesRecord) -> list[str]:
    rows = probe_rows(probes)
    if not rows:
        return []
    lines = ["| " + " | ".join(PROBE_HEADERS) + " |", "|---" + "|---:" * (len(PROBE_HEADERS) - 1) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines
