"""`mediconfusion compare`: several runs side by side, the best one tested against each other.

Runs are ranked by set accuracy. The top run is compared with every other on
the pairs both scored (exact McNemar test on set-correct pairs), so a reader
sees whether a lead is more than noise. The paper's random-guess row gives scale.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mediconfusion_tests.reporting.formatting import with_interval
from mediconfusion_tests.reporting.html_assets import STYLE
from mediconfusion_tests.reporting.markdown_text import md
from mediconfusion_tests.results.comparison import Identity
from mediconfusion_tests.scoring.metrics import scored_by_id
from mediconfusion_tests.scoring.paired import Discordance

if TYPE_CHECKING:
    from collections.abc import Sequence

    from mediconfusion_tests.results.document import Proportion, ResultsDocument

RANDOM_ROW = {"set_accuracy": 0.25, "confusion": 0.5}


@dataclass(frozen=True)
class Entry:
    label: str
    document: ResultsDocument

    @property
    def set_accuracy(self) -> float:
        return self.document.metrics.overall.set_accuracy.value or 0.0


@dataclass(frozen=True)
class Versus:
    """McNemar's exact test of the top run against another, on the pairs both scored."""

    pairs: int
    top_only: int
    other_only: int
    p_value: float


@dataclass(frozen=True)
class Row:
    rank: int
    entry: Entry
    vs_top: Versus | None

    @property
    def label(self) -> str:
        return self.entry.label

    def figure(self, metric: str) -> Proportion:
        return self.entry.document.metrics.overall.get(metric)

    def category(self, name: str) -> Proportion | None:
        figures = self.entry.document.metrics.categories.get(name)
        return None if figures is None else figures.paper.set_accuracy


@dataclass(frozen=True)
class Board:
    rows: list[Row]
    categories: list[str]
    #: What the runs do not share (dataset, mode, prompts, scoring rules): compare with care.
    differences: list[str]


def _pct(figure: Proportion | None) -> str:
    return with_interval(None if figure is None else figure.value, None if figure is None else figure.ci95)


def rank(documents: Sequence[tuple[str, ResultsDocument]]) -> list[Entry]:
    entries = [Entry(label, document) for label, document in documents]
    return sorted(entries, key=lambda e: -e.set_accuracy)


def significance(top: Entry, other: Entry) -> Versus:
    ours, theirs = scored_by_id(top.document.outcomes()), scored_by_id(other.document.outcomes())
    common = [pid for pid in ours if pid in theirs]
    table = Discordance.of([theirs[p].set_correct for p in common], [ours[p].set_correct for p in common])
    return Versus(len(common), table.only_new, table.only_baseline, table.p_value)


def categories(entries: Sequence[Entry]) -> list[str]:
    names: dict[str, None] = {}
    for entry in entries:
        names.update(dict.fromkeys(entry.document.metrics.categories))
    return list(names)


def build(entries: Sequence[Entry]) -> Board:
    top = entries[0]
    identities = {entry.label: Identity.of_document(entry.document).as_dict() for entry in entries}
    reference = identities[top.label]
    differing = sorted({k for ident in identities.values() for k, v in ident.items() if v != reference[k]})
    rows = [
        Row(position, entry, None if position == 1 else significance(top, entry))
        for position, entry in enumerate(entries, start=1)
    ]
    return Board(rows, categories(entries), differing)


def _vs_top(row: Row) -> str:
    versus = row.vs_top
    if versus is None:
        return "top"
    return f"p={versus.p_value:.3g} ({versus.top_only}/{versus.other_only} on {versus.pairs})"


def terminal(board: Board) -> list[str]:
    width = max(30, *(len(row.label) + 1 for row in board.rows))
    header = (
        f"{'#':>2} {'run':<{width}}{'set acc. [95% CI]':>19}{'confusion [95% CI]':>20}{'invalid [95% CI]':>18}"
        "  vs top (p, wins)"
    )
    lines = [header, "-" * len(header)]
    for row in board.rows:
        lines.append(
            f"{row.rank:>2} {row.label:<{width}}{_pct(row.figure('set_accuracy')):>19}"
            f"{_pct(row.figure('confusion')):>20}{_pct(row.figure('invalid_rate')):>18}  {_vs_top(row)}"
        )
    lines.append(f"{'':>2} {'random guessing (paper)':<{width}}{'25.0':>19}{'50.0':>20}")
    if board.differences:
        lines.append("WARNING: the runs differ in " + ", ".join(board.differences) + ": compare with care")
    return lines


def markdown(board: Board) -> str:
    cats = board.categories
    lines = [
        "# MediConfusion leaderboard",
        "",
        "Set accuracy, confusion and invalid rate in %, with 95% intervals. *vs top*: exact McNemar test of the "
        "top run against each run on the pairs both scored (p; pairs only the top run got right / only this one).",
        "",
        "| # | Run | Model | Mode | Set acc. | Confusion | Invalid | vs top | "
        + " | ".join(md(c) for c in cats)
        + " |",
        "|---|---|---|---|---:|---:|---:|---|" + "---:|" * len(cats),
    ]
    for row in board.rows:
        document = row.entry.document
        per_category = " | ".join(_pct(row.category(c)) for c in cats)
        lines.append(
            f"| {row.rank} | {md(row.label)} | {md(document.model.spec)} | {md(document.config.mode)} | "
            f"{_pct(row.figure('set_accuracy'))} | {_pct(row.figure('confusion'))} | "
            f"{_pct(row.figure('invalid_rate'))} | {_vs_top(row)} | {per_category} |"
        )
    lines.append("| | random guessing (paper) | | | 25.0 | 50.0 | | | " + " | ".join("" for _ in cats) + " |")
    if board.differences:
        lines += ["", "> **Warning:** the runs differ in " + md(", ".join(board.differences)) + "."]
    return "\n".join(lines) + "\n"


def page(board: Board) -> str:
    esc = html.escape
    cats = board.categories
    head = "".join(
        f"<th>{esc(h)}</th>" for h in ["#", "Run", "Model", "Mode", "Set acc.", "Confusion", "Invalid", "vs top", *cats]
    )
    body = ""
    for row in board.rows:
        document = row.entry.document
        cells = [
            row.rank,
            row.label,
            document.model.spec,
            document.config.mode,
            _pct(row.figure("set_accuracy")),
            _pct(row.figure("confusion")),
            _pct(row.figure("invalid_rate")),
            _vs_top(row),
            *(_pct(row.category(c)) for c in cats),
        ]
        body += "<tr>" + "".join(f"<td>{esc(str(c))}</td>" for c in cells) + "</tr>"
    body += (
        "<tr class='reference'><td></td><td>random guessing (paper)</td><td></td><td></td><td>25.0</td>"
        "<td>50.0</td>" + "<td></td>" * (2 + len(cats)) + "</tr>"
    )
    warning = (
        f"<p class='note'>The runs differ in {esc(', '.join(board.differences))}: compare with care.</p>"
        if board.differences
        else ""
    )
    return (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>MediConfusion leaderboard</title>"
        f"<style>{STYLE}</style></head><body><section><h1>MediConfusion leaderboard</h1>{warning}"
        f"<table class='paper' id='leaderboard'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        "<p class='legend'>Percentages with 95% intervals. vs top: exact McNemar test of the top run against each "
        "run on the pairs both scored (p; pairs only the top run got right / only this one).</p>"
        "</section></body></html>"
    )
