"""The report's figures, as inline SVG: why pairs fail, which letter the model leans to, intervals.

Categories come worst first (lowest set accuracy, then highest confusion), so
the eye lands where the model fails most. Every label is escaped.
"""

from __future__ import annotations

import html
import math
from collections import Counter
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from mediconfusion_tests.results.document import ComparisonRecord, PairRecord, ResultsDocument
    from mediconfusion_tests.scoring.similarity import SimilarityRecord
    from mediconfusion_tests.scoring.stats import Proportion

OUTCOMES = ("passed", "confused", "wrong", "invalid", "error")
ANSWERS = ("A", "B", "invalid")
LABEL_W, PLOT_W, ROW_H = 190, 500, 26


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def worst_first(document: ResultsDocument) -> list[str]:
    """Category names, the ones the model fails most first."""

    def badness(name: str) -> tuple[float, float, str]:
        figures = document.metrics.categories[name].pair_level
        return (figures.set_accuracy.value or 0.0, -(figures.confusion.value or 0.0), name)

    return sorted(document.metrics.categories, key=badness)


def _outcome(record: PairRecord) -> str | None:
    if record.status in ("skipped", "not run"):
        return None
    return record.failure_class or "passed"


def outcome_counts(document: ResultsDocument) -> dict[str, Counter[str]]:
    """Per category (pairs carrying it) and overall: how many pairs ended in each outcome."""
    counts: dict[str, Counter[str]] = {"All": Counter()}
    for record in document.pairs:
        outcome = _outcome(record)
        if outcome is None:
            continue
        counts["All"][outcome] += 1
        for category in record.all_categories:
            counts.setdefault(category, Counter())[outcome] += 1
    return counts


def answer_counts(document: ResultsDocument) -> dict[str, Counter[str]]:
    """Per category (images carrying it) and overall: how often the model answered A, B or nothing valid."""
    counts: dict[str, Counter[str]] = {"All": Counter()}
    for record in document.pairs:
        if record.answers is None:
            continue
        for answer, categories in zip(record.answers, record.categories, strict=True):
            letter = answer.decision or "invalid"
            counts["All"][letter] += 1
            for category in dict.fromkeys(categories):
                counts.setdefault(category, Counter())[letter] += 1
    return counts


def stacked_bars(
    rows: Sequence[tuple[str, Counter[str]]], parts: Sequence[str], label: str, reference: float | None = None
) -> str:
    """One horizontal bar per row, split into ``parts`` by share; counts in the tooltips."""
    height = ROW_H * len(rows) + 36
    svg = [
        f'<svg class="chart stacked" viewBox="0 0 {LABEL_W + PLOT_W + 60} {height}" role="img" '
        f'aria-label="{esc(label)}">'
    ]
    for tick in (0, 0.25, 0.5, 0.75, 1.0):
        x = LABEL_W + PLOT_W * tick
        svg.append(f'<line class="grid" x1="{x:.1f}" x2="{x:.1f}" y1="6" y2="{height - 22}"/>')
        svg.append(f'<text class="tick" x="{x:.1f}" y="{height - 8}">{int(tick * 100)}%</text>')
    if reference is not None:
        x = LABEL_W + PLOT_W * reference
        svg.append(f'<line class="ref" x1="{x:.1f}" x2="{x:.1f}" y1="4" y2="{height - 22}"/>')
    for index, (name, counts) in enumerate(rows):
        total = sum(counts[p] for p in parts)
        top = 8 + index * ROW_H
        svg.append(f'<text class="cat" x="{LABEL_W - 8}" y="{top + 13}">{esc(name)}</text>')
        start = 0.0
        for part in parts:
            if not total or not counts[part]:
                continue
            width = PLOT_W * counts[part] / total
            svg.append(
                f'<rect class="seg {part}" x="{LABEL_W + start:.1f}" y="{top}" width="{width:.1f}" height="16">'
                f"<title>{esc(name)}: {counts[part]} {part} of {total}</title></rect>"
            )
            start += width
        svg.append(f'<text class="count" x="{LABEL_W + PLOT_W + 6}" y="{top + 13}">{total}</text>')
    svg.append("</svg>")
    legend = "".join(f'<span class="swatch {p}"></span>{p}' for p in parts)
    return "".join(svg) + f'<p class="legend">{legend}</p>'


def outcome_chart(document: ResultsDocument) -> str:
    counts = outcome_counts(document)
    rows = [(name, counts.get(name, Counter())) for name in worst_first(document)] + [("All", counts["All"])]
    return (
        '<h3>Why pairs fail</h3><p class="legend">Pairs carrying each category, by outcome; worst categories '
        "first.</p>" + stacked_bars(rows, OUTCOMES, "Pair outcomes per category")
    )


def letter_bias_chart(document: ResultsDocument) -> str:
    counts = answer_counts(document)
    rows = [(name, counts.get(name, Counter())) for name in worst_first(document)] + [("All", counts["All"])]
    return (
        '<h3>Letter bias</h3><p class="legend">How often the model answered A, B or nothing valid, per category '
        "(images carrying it). The truth is split about evenly, so a bar far from the dashed middle means the "
        "model leans to one letter whatever the image shows: look here first when confusion is high.</p>"
        + stacked_bars(rows, ANSWERS, "Answers per category", reference=0.5)
    )


def _percent_axis(plot_w: int, height: int, label: str) -> list[str]:
    """An SVG's opening tag and its 0-100% grid, for the rows of a horizontal bar chart."""
    parts = [f'<svg class="chart" viewBox="0 0 {LABEL_W + plot_w + 20} {height}" role="img" aria-label="{esc(label)}">']
    for tick in (0, 0.25, 0.5, 0.75, 1.0):
        x = LABEL_W + plot_w * tick
        parts.append(f'<line class="grid" x1="{x:.1f}" x2="{x:.1f}" y1="20" y2="{height - 24}"/>')
        parts.append(f'<text class="tick" x="{x:.1f}" y="{height - 8}">{int(tick * 100)}%</text>')
    return parts


def _bar(figure: Proportion, css: str, y: float, height: int, plot_w: int, title: str) -> list[str]:
    """A proportion as a bar from the axis, with its 95% interval as a whisker through the middle."""
    value = figure.value or 0.0
    parts = [
        f'<rect class="bar {css}" x="{LABEL_W}" y="{y}" width="{plot_w * value:.1f}" height="{height}">'
        f"<title>{esc(title)}</title></rect>"
    ]
    if figure.ci95:
        low, high = (LABEL_W + plot_w * end for end in figure.ci95)
        middle = y + height / 2
        parts.append(f'<line class="whisker" x1="{low:.1f}" x2="{high:.1f}" y1="{middle:g}" y2="{middle:g}"/>')
    return parts


def interval_chart(document: ResultsDocument) -> str:
    """Per-category set accuracy and confusion (pairs carrying the category) with 95% intervals."""
    names = worst_first(document)
    if not names:
        return ""
    plot_w, row_h = 520, 34
    height = row_h * len(names) + 50

    def x(value: float) -> float:
        return LABEL_W + plot_w * value

    parts = _percent_axis(plot_w, height, "Set accuracy and confusion per category")
    parts.append(f'<line class="ref set" x1="{x(0.25):.1f}" x2="{x(0.25):.1f}" y1="16" y2="{height - 24}"/>')
    parts.append(f'<line class="ref conf" x1="{x(0.5):.1f}" x2="{x(0.5):.1f}" y1="16" y2="{height - 24}"/>')
    for row, name in enumerate(names):
        figures = document.metrics.categories[name].pair_level
        top = 24 + row * row_h
        parts.append(f'<text class="cat" x="{LABEL_W - 8}" y="{top + 16}">{esc(name)}</text>')
        for offset, key, css in ((0, "set_accuracy", "set"), (13, "confusion", "conf")):
            figure = figures.get(key)
            if figure.value is None:
                continue
            title = f"{name} {key.replace('_', ' ')}: {100 * figure.value:.1f}% ({figure.k}/{figure.n})"
            parts += _bar(figure, css, top + offset, 10, plot_w, title)
    parts.append("</svg>")
    legend = (
        '<p class="legend"><span class="swatch set"></span>set accuracy <span class="swatch conf"></span>confusion '
        "(pairs carrying the category, 95% Wilson intervals; dashed lines: random guessing)</p>"
    )
    return "<h3>Set accuracy and confusion, with intervals</h3>" + "".join(parts) + legend


def delta_chart(comparison: ComparisonRecord, caption: str) -> str:
    """Per category, this run minus the baseline in set accuracy and confusion, with paired 95% intervals.

    Rows come with the largest loss in set accuracy first; the axis spans the
    widest interval, so small differences are not drawn as nothing.
    """
    rows = [(name, deltas["set_accuracy"], deltas["confusion"]) for name, deltas in comparison.categories.items()]
    rows.sort(key=lambda row: (row[1].difference if row[1].difference is not None else 0.0, row[0]))
    rows.append(("All", comparison.metrics["set_accuracy"], comparison.metrics["confusion"]))
    reach = 0.1
    for _, *deltas in rows:
        for delta in deltas:
            values = [delta.difference, *(delta.ci95 or ())]
            reach = max(reach, *(abs(v) for v in values if v is not None))
    reach = min(1.0, math.ceil(reach * 10) / 10)
    plot_w, row_h = 520, 34
    height = row_h * len(rows) + 50

    def x(value: float) -> float:
        return LABEL_W + plot_w * (value + reach) / (2 * reach)

    parts = [
        f'<svg class="chart delta" viewBox="0 0 {LABEL_W + plot_w + 20} {height}" role="img" '
        f'aria-label="{esc(caption)}">'
    ]
    for tick in (-reach, -reach / 2, 0.0, reach / 2, reach):
        parts.append(f'<line class="grid" x1="{x(tick):.1f}" x2="{x(tick):.1f}" y1="20" y2="{height - 24}"/>')
        parts.append(f'<text class="tick" x="{x(tick):.1f}" y="{height - 8}">{100 * tick:+.0f}</text>')
    parts.append(f'<line class="ref zero" x1="{x(0):.1f}" x2="{x(0):.1f}" y1="16" y2="{height - 24}"/>')
    for row, (name, set_delta, conf_delta) in enumerate(rows):
        top = 24 + row * row_h
        parts.append(f'<text class="cat" x="{LABEL_W - 8}" y="{top + 16}">{esc(name)}</text>')
        for offset, key, css, delta in ((4, "set accuracy", "set", set_delta), (17, "confusion", "conf", conf_delta)):
            if delta.difference is None:
                continue
            y = top + offset
            interval = ""
            if delta.ci95:
                low, high = delta.ci95
                parts.append(f'<line class="whisker {css}" x1="{x(low):.1f}" x2="{x(high):.1f}" y1="{y}" y2="{y}"/>')
                interval = f" (95% CI {100 * low:+.1f} to {100 * high:+.1f})"
            parts.append(
                f'<circle class="dot {css}" cx="{x(delta.difference):.1f}" cy="{y}" r="4">'
                f"<title>{esc(name)} {key}: {100 * delta.difference:+.1f} points{interval}</title></circle>"
            )
    parts.append("</svg>")
    legend = (
        '<p class="legend"><span class="swatch set"></span>set accuracy <span class="swatch conf"></span>confusion: '
        "difference in percentage points, with paired bootstrap 95% intervals over the pairs both runs scored "
        "(higher set accuracy and lower confusion are better).</p>"
    )
    return f"<h3>{esc(caption)}</h3>" + "".join(parts) + legend


def similarity_chart(record: SimilarityRecord) -> str:
    """Confusion in bins of equal counts along the encoder similarity of the pair's two images, with intervals."""
    if not record.bins:
        return ""
    plot_w, row_h = 520, 26
    height = row_h * len(record.bins) + 50

    parts = _percent_axis(plot_w, height, "Confusion against encoder similarity")
    for row, found in enumerate(record.bins):
        top, figure = 24 + row * row_h, found.confusion
        label = f"{found.low:.3f} to {found.high:.3f} (n={figure.n})"
        parts.append(f'<text class="cat" x="{LABEL_W - 8}" y="{top + 10}">{esc(label)}</text>')
        title = f"similarity {label}: confusion {100 * (figure.value or 0.0):.1f}% ({figure.k}/{figure.n})"
        parts += _bar(figure, "conf", top, 12, plot_w, title)
    parts.append("</svg>")
    return "".join(parts)


def probe_chart(figures: Mapping[str, Proportion]) -> str:
    """Consistency per probe (pairs whose decisions held), with 95% intervals."""
    if not figures:
        return ""
    plot_w, row_h = 520, 26
    height = row_h * len(figures) + 50
    parts = _percent_axis(plot_w, height, "Consistency per probe")
    for row, (name, figure) in enumerate(figures.items()):
        top = 24 + row * row_h
        parts.append(f'<text class="cat" x="{LABEL_W - 8}" y="{top + 10}">{esc(name)} (n={figure.n})</text>')
        title = f"{name}: {100 * (figure.value or 0.0):.1f}% consistent ({figure.k}/{figure.n})"
        parts += _bar(figure, "set", top, 12, plot_w, title)
    parts.append("</svg>")
    return "".join(parts)
