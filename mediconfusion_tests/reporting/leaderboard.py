"""`mediconfusion compare`: several runs side by side, the best one tested against each other.

Runs are ranked by set accuracy. The top run is compared with every other on
the pairs both scored (exact McNemar test on set-correct pairs), so a reader
sees whether a lead is more than noise. The paper's random-guess row gives scale.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mediconfusion_tests.comparison import identity, scored
from mediconfusion_tests.reporting.html_assets import STYLE
from mediconfusion_tests.reporting.markdown_text import md
from mediconfusion_tests.reporting.results_json import outcomes_from_document
from mediconfusion_tests.scoring.paired import Discordance

RANDOM_ROW = {"set_accuracy": 0.25, "confusion": 0.5}


@dataclass(frozen=True)
class Entry:
    label: str
    document: Mapping[str, Any]

    @property
    def overall(self) -> Mapping[str, Any]:
        return self.document["metrics"]["overall"]

    @property
    def set_accuracy(self) -> float:
        return self.overall["set_accuracy"]["value"] or 0.0


def _pct(figure: Mapping[str, Any] | None) -> str:
    if not figure or figure.get("value") is None:
        return "-"
    ci = figure.get("ci95")
    return f"{100 * figure['value']:.1f}" + (f" [{100 * ci[0]:.1f}-{100 * ci[1]:.1f}]" if ci else "")


def rank(documents: Sequence[tuple[str, Mapping[str, Any]]]) -> list[Entry]:
    entries = [Entry(label, document) for label, document in documents]
    return sorted(entries, key=lambda e: -e.set_accuracy)


def significance(top: Entry, other: Entry) -> dict[str, Any]:
    """McNemar's exact test of the top run against another, on the pairs both scored."""
    ours, theirs = scored(outcomes_from_document(top.document)), scored(outcomes_from_document(other.document))
    common = [pid for pid in ours if pid in theirs]
    table = Discordance.of([theirs[p].set_correct for p in common], [ours[p].set_correct for p in common])
    return {
        "pairs": len(common),
        "top_only": table.only_new,
        "other_only": table.only_baseline,
        "p_value": table.p_value,
    }


def categories(entries: Sequence[Entry]) -> list[str]:
    names: dict[str, None] = {}
    for entry in entries:
        names.update(dict.fromkeys(entry.document["metrics"]["categories"]))
    return list(names)


def build(entries: Sequence[Entry]) -> dict[str, Any]:
    top = entries[0]
    identities = {entry.label: identity(entry.document) for entry in entries}
    differing = sorted({k for ident in identities.values() for k, v in ident.items() if v != identities[top.label][k]})
    rows = []
    for position, entry in enumerate(entries, start=1):
        row = {
            "rank": position,
            "label": entry.label,
            "model": entry.document["model"]["spec"],
            "mode": entry.document["config"]["mode"],
            "pairs": entry.overall["pairs"],
            "set_accuracy": entry.overall["set_accuracy"],
            "confusion": entry.overall["confusion"],
            "individual_accuracy": entry.overall["individual_accuracy"],
            "invalid_rate": entry.overall["invalid_rate"],
            "categories": {
                name: figures["paper"]["set_accuracy"]
                for name, figures in entry.document["metrics"]["categories"].items()
            },
            "vs_top": None if position == 1 else significance(top, entry),
        }
        rows.append(row)
    return {"rows": rows, "categories": categories(entries), "differences": differing, "random": RANDOM_ROW}


def _vs_top(row: Mapping[str, Any]) -> str:
    versus = row["vs_top"]
    if versus is None:
        return "top"
    return f"p={versus['p_value']:.3g} ({versus['top_only']}/{versus['other_only']} on {versus['pairs']})"


def terminal(board: Mapping[str, Any]) -> list[str]:
    header = (
        f"{'#':>2} {'run':<30}{'set acc. [95% CI]':>19}{'confusion [95% CI]':>20}{'invalid [95% CI]':>18}"
        "  vs top (p, wins)"
    )
    lines = [header, "-" * len(header)]
    for row in board["rows"]:
        lines.append(
            f"{row['rank']:>2} {row['label'][:29]:<30}{_pct(row['set_accuracy']):>19}{_pct(row['confusion']):>20}"
            f"{_pct(row['invalid_rate']):>18}  {_vs_top(row)}"
        )
    lines.append(f"{'':>2} {'random guessing (paper)':<30}{'25.0':>19}{'50.0':>20}")
    if board["differences"]:
        lines.append("WARNING: the runs differ in " + ", ".join(board["differences"]) + ": compare with care")
    return lines


def markdown(board: Mapping[str, Any]) -> str:
    cats = board["categories"]
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
    for row in board["rows"]:
        per_category = " | ".join(_pct({"value": (row["categories"].get(c) or {}).get("value")}) for c in cats)
        lines.append(
            f"| {row['rank']} | {md(row['label'])} | {md(row['model'])} | {md(row['mode'])} | "
            f"{_pct(row['set_accuracy'])} | {_pct(row['confusion'])} | {_pct(row['invalid_rate'])} | "
            f"{_vs_top(row)} | {per_category} |"
        )
    lines.append("| | random guessing (paper) | | | 25.0 | 50.0 | | | " + " | ".join("" for _ in cats) + " |")
    if board["differences"]:
        lines += ["", "> **Warning:** the runs differ in " + md(", ".join(board["differences"])) + "."]
    return "\n".join(lines) + "\n"


def page(board: Mapping[str, Any]) -> str:
    esc = html.escape
    cats = board["categories"]
    head = "".join(
        f"<th>{esc(h)}</th>" for h in ["#", "Run", "Model", "Mode", "Set acc.", "Confusion", "Invalid", "vs top", *cats]
    )
    body = ""
    for row in board["rows"]:
        cells = [
            row["rank"],
            row["label"],
            row["model"],
            row["mode"],
            _pct(row["set_accuracy"]),
            _pct(row["confusion"]),
            _pct(row["invalid_rate"]),
            _vs_top(row),
            *(_pct({"value": (row["categories"].get(c) or {}).get("value")}) for c in cats),
        ]
        body += "<tr>" + "".join(f"<td>{esc(str(c))}</td>" for c in cells) + "</tr>"
    body += (
        "<tr class='reference'><td></td><td>random guessing (paper)</td><td></td><td></td><td>25.0</td>"
        "<td>50.0</td>" + "<td></td>" * (2 + len(cats)) + "</tr>"
    )
    warning = (
        f"<p class='note'>The runs differ in {esc(', '.join(board['differences']))}: compare with care.</p>"
        if board["differences"]
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
