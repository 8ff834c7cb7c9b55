"""`mediconfusion compare`: several runs side by side, the best one tested against each other.

Runs are ranked by set accuracy. The top run is compared with every other on
the pairs both scored (exact McNemar test on set-correct pairs), so a reader
sees whether a lead is more than noise. The paper's random-guess row gives scale.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mediconfusion_tests.reporting.formatting import benchmark_name, with_interval
from mediconfusion_tests.reporting.html_assets import STYLE
from mediconfusion_tests.reporting.markdown_text import md
from mediconfusion_tests.results.comparison import Identity
from mediconfusion_tests.scoring.metrics import scored_by_id
from mediconfusion_tests.scoring.paired import Discordance

if TYPE_CHECKING:
    from collections.abc import Sequence

    from mediconfusion_tests.results.document import ResultsDocument
    from mediconfusion_tests.scoring.stats import Proportion

RANDOM_ROW = {"set_accuracy": 0.25, "confusion": 0.5}


@dataclass(frozen=True)
class Entry:
    #: What tells this run apart from the others on the board (see ``labelled``).
    label: str
    document: ResultsDocument
    #: Where the run came from (its folder's name, unique even when two run ids are equal).
    source: str = ""
    #: Another run on the board has the same label: the terminal adds the run id (tables have a column).
    alike: bool = False

    @property
    def named(self) -> str:
        return f"{self.label} · {self.run_id}" if self.alike else self.label

    @property
    def run_id(self) -> str:
        return self.source or self.document.run.id

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

    def probe(self, name: str) -> Proportion | None:
        probes = self.entry.document.probes
        figures = None if probes is None else probes.figures.get(name)
        return None if figures is None else figures.consistency


def probe_names(board: Board) -> list[str]:
    """The probes any of the runs has, in the order they run."""
    from mediconfusion_tests.scoring.probes import PROBES

    present = {n for row in board.rows if row.entry.document.probes for n in row.entry.document.probes.figures}
    return [name for name in PROBES if name in present]


def probe_lines(board: Board) -> list[str]:
    """Probe consistency side by side (runs without a probe show n/a)."""
    names = probe_names(board)
    if not names:
        return []
    table = [["run", *(f"{n} consistency [95% CI]" for n in names)]]
    table += [[row.label, *(_pct(row.probe(n)) for n in names)] for row in board.rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
    rendered = [
        "  ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(line)) for line in table
    ]
    return ["", rendered[0], "-" * len(rendered[0]), *rendered[1:]]


@dataclass(frozen=True)
class Board:
    rows: list[Row]
    categories: list[str]
    #: What the runs do not share (dataset, mode, prompts, scoring rules): compare with care.
    differences: list[str]
    #: "MediConfusion", or the user's own pair dataset the runs share ("Pairs ORG/NAME").
    benchmark: str = "MediConfusion"


def _pct(figure: Proportion | None) -> str:
    return with_interval(None if figure is None else figure.value, None if figure is None else figure.ci95)


def rank(documents: Sequence[tuple[str, ResultsDocument]]) -> list[Entry]:
    entries = [Entry(label, document, label) for label, document in documents]
    return sorted(entries, key=lambda e: -e.set_accuracy)


def significance(top: Entry, other: Entry) -> Versus:
    ours, theirs = scored_by_id(top.document.outcomes()), scored_by_id(other.document.outcomes())
    common = [pid for pid in ours if pid in theirs]
    table = Discordance.of([theirs[p].set_correct for p in common], [ours[p].set_correct for p in common])
    return Versus(len(common), table.new_only, table.baseline_only, table.p_value)


def categories(entries: Sequence[Entry]) -> list[str]:
    names: dict[str, None] = {}
    for entry in entries:
        names.update(dict.fromkeys(entry.document.metrics.categories))
    return list(names)


#: Identity fields that hold a digest: shown by their first characters.
DIGESTS = frozenset({"dataset", "prompt set"})


def _short(key: str, value: object) -> str:
    text = str(value)
    return text[:8] if key in DIGESTS and len(text) > 12 else text


def labelled(entries: Sequence[Entry], differing: Sequence[str]) -> list[Entry]:
    """Each run named by its model and mode plus whatever else differs between the runs, never cut;
    runs still alike (the same settings run twice) add their run id."""

    def describe(entry: Entry) -> str:
        document = entry.document
        identity = Identity.of_document(document).as_dict()
        parts = [document.model.spec, document.config.mode]
        parts += [f"{key} {_short(key, identity[key])}" for key in differing if key != "mode"]
        return " · ".join(parts)

    names = [describe(entry) for entry in entries]
    return [
        Entry(name + scope(entry.document), entry.document, entry.source, alike=names.count(name) > 1)
        for name, entry in zip(names, entries, strict=True)
    ]


def scope(document: ResultsDocument) -> str:
    """A mark for a run that is not the whole benchmark: a shard, a subset, a run that stopped early."""
    run, counts = document.run, document.counts
    if document.config.shard:
        return f" [shard {document.config.shard}: {counts.pairs_scored} of {counts.pairs_in_dataset} pairs]"
    if run.subset:
        return f" [subset: {counts.pairs_scored} of {counts.pairs_in_dataset} pairs]"
    if run.complete is False:
        return f" [incomplete: {counts.pairs_scored} of {counts.pairs_in_dataset} pairs]"
    return ""


def build(entries: Sequence[Entry]) -> Board:
    identities = [Identity.of_document(entry.document).as_dict() for entry in entries]
    reference = identities[0]
    differing = sorted({k for ident in identities for k, v in ident.items() if v != reference[k]})
    entries = labelled(entries, differing)
    top = entries[0]
    rows = [
        Row(position, entry, None if position == 1 else significance(top, entry))
        for position, entry in enumerate(entries, start=1)
    ]
    return Board(rows, categories(entries), differing, benchmark_name(top.document))


def _vs_top(row: Row) -> str:
    versus = row.vs_top
    if versus is None:
        return "top"
    return f"p={versus.p_value:.3g} ({versus.top_only}/{versus.other_only} on {versus.pairs})"


def terminal(board: Board) -> list[str]:
    """Columns as wide as their longest cell, two spaces apart, so no value runs into the next."""
    header = ["#", "run", "set acc. [95% CI]", "confusion [95% CI]", "invalid [95% CI]", "vs top (p, wins)"]
    body = [
        [
            str(row.rank),
            row.entry.named,
            _pct(row.figure("set_accuracy")),
            _pct(row.figure("confusion")),
            _pct(row.figure("invalid_rate")),
            _vs_top(row),
        ]
        for row in board.rows
    ]
    reference = ["", "random guessing (paper)", "25.0", "50.0", "", ""]
    table = [header, *body, reference]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]

    def render(cells: list[str]) -> str:
        aligned = [cell.ljust(widths[i]) if i in (1, 5) else cell.rjust(widths[i]) for i, cell in enumerate(cells)]
        return "  ".join(aligned).rstrip()

    lines = [render(header), "-" * len(render(header)), *(render(cells) for cells in [*body, reference])]
    lines += probe_lines(board)
    if board.differences:
        lines.append("WARNING: the runs differ in " + ", ".join(board.differences) + ": compare with care")
    partial = partial_runs(board)
    if partial:
        lines.append(f"WARNING: {partial}")
    return lines


def partial_runs(board: Board) -> str:
    """The warning for runs that scored only part of the benchmark, or ''."""
    count = sum(1 for row in board.rows if scope(row.entry.document))
    if not count:
        return ""
    return (
        f"{count} run(s) scored only part of the benchmark (marked [shard], [subset] or [incomplete]): their "
        "figures are not comparable with a full run's"
    )


def markdown(board: Board) -> str:
    cats = board.categories
    lines = [
        f"# {board.benchmark} leaderboard",
        "",
        "Set accuracy, confusion and invalid rate in %, with 95% intervals. *vs top*: exact McNemar test of the "
        "top run against each run on the pairs both scored (p; pairs only the top run got right / only this one).",
        "",
        "| # | Run | Run id | Set acc. | Confusion | Invalid | vs top | " + " | ".join(md(c) for c in cats) + " |",
        "|---|---|---|---:|---:|---:|---|" + "---:|" * len(cats),
    ]
    for row in board.rows:
        per_category = " | ".join(_pct(row.category(c)) for c in cats)
        lines.append(
            f"| {row.rank} | {md(row.label)} | {md(row.entry.run_id)} | "
            f"{_pct(row.figure('set_accuracy'))} | {_pct(row.figure('confusion'))} | "
            f"{_pct(row.figure('invalid_rate'))} | {_vs_top(row)} | {per_category} |"
        )
    lines.append("| | random guessing (paper) | | 25.0 | 50.0 | | | " + " | ".join("" for _ in cats) + " |")
    probes = probe_names(board)
    if probes:
        lines += ["", "Probe consistency in %, with 95% intervals:", ""]
        lines += ["| Run | " + " | ".join(probes) + " |", "|---|" + "---:|" * len(probes)]
        lines += [f"| {md(row.label)} | " + " | ".join(_pct(row.probe(n)) for n in probes) + " |" for row in board.rows]
    if board.differences:
        lines += ["", "> **Warning:** the runs differ in " + md(", ".join(board.differences)) + "."]
    partial = partial_runs(board)
    if partial:
        lines += ["", f"> **Warning:** {md(partial)}."]
    return "\n".join(lines) + "\n"


#: Difference charts drawn on the page: the top run against the next ones.
CHARTED = 5


def difference_charts(board: Board) -> str:
    """Per category, each runner-up minus the top run, with paired bootstrap intervals."""
    from mediconfusion_tests.reporting.html_charts import delta_chart
    from mediconfusion_tests.results.comparison import compare

    top = board.rows[0].entry
    charts = []
    for row in board.rows[1 : 1 + CHARTED]:
        other = row.entry
        comparison = compare(top.document, other.document.outcomes(), Identity.of_document(other.document))
        charts.append(delta_chart(comparison.record(mismatch_allowed=True), f"{other.label} minus {top.label}"))
    more = len(board.rows) - 1 - CHARTED
    if more > 0:
        charts.append(f"<p class='legend'>{more} more run(s) not charted.</p>")
    return "".join(charts)


def page(board: Board) -> str:
    esc = html.escape
    cats = board.categories
    head = "".join(
        f"<th>{esc(h)}</th>" for h in ["#", "Run", "Run id", "Set acc.", "Confusion", "Invalid", "vs top", *cats]
    )
    body = ""
    for row in board.rows:
        cells = [
            row.rank,
            row.label,
            row.entry.run_id,
            _pct(row.figure("set_accuracy")),
            _pct(row.figure("confusion")),
            _pct(row.figure("invalid_rate")),
            _vs_top(row),
            *(_pct(row.category(c)) for c in cats),
        ]
        body += "<tr>" + "".join(f"<td>{esc(str(c))}</td>" for c in cells) + "</tr>"
    body += (
        "<tr class='reference'><td></td><td>random guessing (paper)</td><td></td><td>25.0</td>"
        "<td>50.0</td>" + "<td></td>" * (2 + len(cats)) + "</tr>"
    )
    warning = (
        f"<p class='note'>The runs differ in {esc(', '.join(board.differences))}: compare with care.</p>"
        if board.differences
        else ""
    )
    partial = partial_runs(board)
    if partial:
        warning += f"<p class='note'>{esc(partial[0].upper() + partial[1:])}.</p>"
    charts = difference_charts(board) if len(board.rows) > 1 else ""
    return (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{esc(board.benchmark)} leaderboard</title>"
        f"<style>{STYLE}</style></head><body><section><h1>{esc(board.benchmark)} leaderboard</h1>{warning}"
        "<div class='wide'>"
        f"<table class='paper' id='leaderboard'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
        "<p class='legend'>Percentages with 95% intervals. vs top: exact McNemar test of the top run against each "
        "run on the pairs both scored (p; pairs only the top run got right / only this one).</p>"
        f"{charts}</section></body></html>"
    )
