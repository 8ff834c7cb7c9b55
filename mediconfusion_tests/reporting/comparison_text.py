"""The baseline comparison in words: terminal lines, markdown, and an HTML section."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from mediconfusion_tests.reporting.formatting import percent, points
from mediconfusion_tests.reporting.html_charts import delta_chart
from mediconfusion_tests.reporting.markdown_text import code, md

if TYPE_CHECKING:
    from mediconfusion_tests.results.document import ComparisonRecord, FlipRecord, FlipSide, MetricDelta

METRIC_LABELS = {
    "set_accuracy": "set accuracy",
    "individual_accuracy": "individual accuracy",
    "confusion": "confusion",
    "invalid_rate": "invalid rate",
}
LISTED = 10


def _pct(value: float | None) -> str:
    return percent(value, sign=True)


def _delta(row: MetricDelta) -> str:
    if row.difference is None:
        return percent(None)
    interval = f" ({points(row.ci95[0], 1)} to {points(row.ci95[1], 1)})" if row.ci95 else ""
    return f"{points(row.difference)}{interval}"


def _mcnemar(comparison: ComparisonRecord) -> str:
    sets, images = comparison.mcnemar["set_correct"], comparison.mcnemar["images"]
    return (
        f"McNemar exact test: set-correct pairs {sets.baseline_only} lost, {sets.new_only} gained, "
        f"p = {sets.p_value:.4g}; images {images.baseline_only} lost, {images.new_only} gained, "
        f"p = {images.p_value:.4g}"
    )


def _ids(flips: list[FlipRecord]) -> str:
    shown = ", ".join(f.pair_id for f in flips[:LISTED])
    return shown + (f" and {len(flips) - LISTED} more" if len(flips) > LISTED else "")


def terminal_comparison(comparison: ComparisonRecord) -> list[str]:
    lines = [
        f"compared with baseline {comparison.baseline_run} ({comparison.baseline_model}) "
        f"on {comparison.pairs_compared} pairs both scored",
        f"{'':<22}{'baseline':>10}{'this run':>10}   difference in points (95% CI)",
    ]
    for name, row in comparison.metrics.items():
        lines.append(f"{METRIC_LABELS[name]:<22}{_pct(row.baseline):>10}{_pct(row.new):>10}   {_delta(row)}")
    lines.append(_mcnemar(comparison))
    if comparison.regressions:
        lines.append(f"regressed pairs ({len(comparison.regressions)}): {_ids(comparison.regressions)}")
    if comparison.improvements:
        lines.append(f"improved pairs ({len(comparison.improvements)}): {_ids(comparison.improvements)}")
    return lines


def _answers(side: FlipSide) -> str:
    return " / ".join(d or "invalid" for d in side.decisions)


def markdown_comparison(comparison: ComparisonRecord) -> list[str]:
    lines = [
        "",
        f"## Compared with baseline {code(comparison.baseline_run)} ({md(comparison.baseline_model)})",
        "",
        f"{comparison.pairs_compared} pairs both runs scored.",
        "",
        "| Metric | Baseline | This run | Difference, points (95% CI) |",
        "|---|---:|---:|---:|",
    ]
    for name, row in comparison.metrics.items():
        lines.append(f"| {METRIC_LABELS[name]} | {_pct(row.baseline)} | {_pct(row.new)} | {_delta(row)} |")
    lines += ["", _mcnemar(comparison)]
    for title, flips in (
        ("Regressed pairs (baseline right, now wrong)", comparison.regressions),
        ("Improved pairs", comparison.improvements),
    ):
        if not flips:
            continue
        lines += [
            "",
            f"### {title}: {len(flips)}",
            "",
            "| Pair | Categories | Truth | Baseline | This run |",
            "|---|---|---|---|---|",
        ]
        for flip in flips[:LISTED]:
            lines.append(
                f"| {md(flip.pair_id)} | {md(', '.join(flip.categories))} | {' / '.join(flip.truth)} | "
                f"{md(_answers(flip.baseline))} | {md(_answers(flip.new))} |"
            )
    return lines


def html_comparison(comparison: ComparisonRecord | None) -> str:
    if comparison is None:
        return ""
    esc = html.escape
    rows = "".join(
        f"<tr><td>{METRIC_LABELS[name]}</td><td>{_pct(row.baseline)}</td><td>{_pct(row.new)}</td>"
        f"<td>{esc(_delta(row))}</td></tr>"
        for name, row in comparison.metrics.items()
    )
    flips = "".join(
        f"<li><b>{esc(flip.pair_id)}</b> ({esc(', '.join(flip.categories))}): truth "
        f"{esc(' / '.join(flip.truth))}, baseline {esc(_answers(flip.baseline))}, "
        f"now {esc(_answers(flip.new))}</li>"
        for flip in comparison.regressions
    )
    mismatches = "".join(f"<li>{esc(m)}</li>" for m in comparison.mismatches)
    return (
        f'<section id="baseline"><h2>Compared with baseline {esc(comparison.baseline_run)} '
        f"({esc(comparison.baseline_model)})</h2>"
        + (f'<ul class="mismatch">{mismatches}</ul>' if mismatches else "")
        + f'<table class="paper"><thead><tr><th>Metric</th><th>Baseline</th><th>This run</th>'
        f"<th>Difference, points (95% CI)</th></tr></thead><tbody>{rows}</tbody></table>"
        f"<p>{esc(_mcnemar(comparison))}</p>"
        + delta_chart(comparison, "This run minus the baseline, per category")
        + (f"<h3>Regressed pairs ({len(comparison.regressions)})</h3><ul>{flips}</ul>" if flips else "")
        + "</section>"
    )
