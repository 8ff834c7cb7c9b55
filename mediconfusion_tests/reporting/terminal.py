"""The end-of-run summary in the terminal, rendered from the results document.

Each line carries its kind, so the plugin colours it by what it is (a failed
condition, a problem, a note) rather than by matching its text.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Literal

from mediconfusion_tests.reporting.comparison_text import terminal_comparison
from mediconfusion_tests.reporting.gate_text import describe
from mediconfusion_tests.reporting.tables import interval_line, terminal_table
from mediconfusion_tests.scoring.outcome import FAILURE_CLASSES
from mediconfusion_tests.scoring.parse import other_parser

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

    from mediconfusion_tests.results.document import ResultsDocument

LineKind = Literal[
    "text", "verdict-pass", "verdict-fail", "condition-pass", "condition-fail", "warning", "problem", "note"
]
Line = tuple[str, LineKind]
SHOWN_SKIPS = 5


def verdict_lines(document: ResultsDocument) -> list[Line]:
    gate = document.gate
    if gate is None:
        return []
    head = "GATE PASSED" if gate.passed else "GATE FAILED"
    if document.problems and not gate.passed and all(c.passed for c in gate.conditions):
        head += " (conditions hold, but the run has problems: see below)"
    lines: list[Line] = [(head, "verdict-pass" if gate.passed else "verdict-fail")]
    lines += [(f"  {describe(c)}", "condition-pass" if c.passed else "condition-fail") for c in gate.conditions]
    return lines


def failure_line(classes: Mapping[str, int]) -> str | None:
    if not any(classes.values()):
        return None
    return "failing pairs: " + ", ".join(f"{classes[c]} {c}" for c in FAILURE_CLASSES if classes.get(c))


def terminal_summary(document: ResultsDocument, written: Mapping[str, Path]) -> list[Line]:
    config, counts = document.config, document.counts
    skipped = {p.pair_id: p.reason or "skipped" for p in document.pairs if p.status == "skipped"}
    lines: list[Line] = [
        (
            f"model {document.model.spec} · mode {config.mode} · dataset {document.dataset.label} · seed {config.seed}",
            "text",
        ),
        (
            f"scored {counts.pairs_scored} of {counts.pairs_in_dataset} pairs"
            + (f" ({len(skipped)} skipped)" if skipped else "")
            + (f" · {len(document.errors)} errored" if document.errors else ""),
            "text",
        ),
    ]
    if document.model.note:
        lines.append((f"NOTE: {document.model.note}", "note"))
    lines += [("", "text"), *((row, "text") for row in terminal_table(document.metrics)), ("", "text")]
    lines.append((interval_line(document.metrics.overall), "text"))
    failure = failure_line(Counter({str(k): v for k, v in counts.failure_classes.items()}))
    if failure:
        lines.append((failure, "text"))
    if document.parser.name is not None:
        other = other_parser(document.parser.name)
        changed = document.parser.disagreements
        text = f"answer parser: {document.parser.name}; {changed} decision(s) would differ with {other}"
        lines.append((text, "text"))
    if skipped:
        shown = ", ".join(f"{pair_id} ({why})" for pair_id, why in list(skipped.items())[:SHOWN_SKIPS])
        more = f" and {len(skipped) - SHOWN_SKIPS} more" if len(skipped) > SHOWN_SKIPS else ""
        lines.append((f"skipped: {shown}{more}", "text"))
    if document.baseline is not None:
        lines += [("", "text"), *((line, "text") for line in terminal_comparison(document.baseline))]
    lines += [("", "text"), *verdict_lines(document)]
    lines += [(f"WARNING: {w}", "warning") for w in document.warnings]
    lines += [(f"PROBLEM: {p}", "problem") for p in document.problems]
    lines += [(f"{name}: {path}", "text") for name, path in written.items()]
    return lines
