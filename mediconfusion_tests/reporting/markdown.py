"""summary.md (and the CI step summary): the verdict first, the paper's table, the most telling failures."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mediconfusion_tests.reporting.comparison_text import markdown_comparison
from mediconfusion_tests.reporting.formatting import benchmark_name
from mediconfusion_tests.reporting.hints import hints
from mediconfusion_tests.reporting.markdown_text import code, md
from mediconfusion_tests.reporting.tables import interval_line, markdown_table, probe_markdown
from mediconfusion_tests.scoring.outcome import FAILURE_CLASSES

if TYPE_CHECKING:
    from mediconfusion_tests.results.document import PairRecord, ResultsDocument
    from mediconfusion_tests.results.gate import ConditionRecord

TOP_FAILURES = 10


def _confidence(record: PairRecord) -> float:
    """How sure the model was of what it answered (score margins, where the mode records scores)."""
    margins = [
        abs(answer.scores["A"] - answer.scores["B"])
        for answer in record.answers or ()
        if "A" in answer.scores and "B" in answer.scores
    ]
    return sum(margins) / len(margins) if margins else 0.0


def informative_failures(document: ResultsDocument, limit: int = TOP_FAILURES) -> list[PairRecord]:
    """Most telling first: the confusion MediConfusion measures, then wrong, invalid, errors; surest first."""
    failing = [p for p in document.pairs if p.failure_class]
    failing.sort(
        key=lambda p: (FAILURE_CLASSES.index(p.failure_class) if p.failure_class else 9, -_confidence(p), p.pair_id)
    )
    return failing[:limit]


def _answered(record: PairRecord, index: int) -> str:
    answer = record.answers[index] if record.answers else None
    decision = answer.decision if answer else None
    raw = answer.raw if answer else record.error
    return f"{record.truth[index]} → {decision or 'invalid'} ({md(raw, 30)})"


def _condition(condition: ConditionRecord) -> str:
    mark = "pass" if condition.passed else "**FAIL**"
    if condition.detail:
        return f"- {mark}: {md(condition.condition)}: {md(condition.detail)}"
    value = "undefined" if condition.value is None else f"{condition.value:.4f}"
    interval = f", 95% CI {condition.ci95[0]:.3f}-{condition.ci95[1]:.3f}" if condition.ci95 else ""
    threshold = "" if condition.threshold is None else f", threshold {condition.op} {condition.threshold:.4g}"
    return f"- {mark}: {code(condition.condition)} (value {value}{interval}, n={condition.n}{threshold})"


def markdown_summary(document: ResultsDocument) -> str:
    model, config, counts, gate = document.model, document.config, document.counts, document.gate
    lines: list[str] = []
    if gate is not None:
        lines += [f"## {'✅ Release gate passed' if gate.passed else '❌ Release gate FAILED'}", ""]
        lines += [_condition(condition) for condition in gate.conditions]
        lines += [f"- **Problem:** {md(problem)}" for problem in document.problems]
        lines += [f"- **Warning:** {md(warning)}" for warning in document.warnings]
        lines.append("")
    dataset = document.dataset
    dataset_name = dataset.source if dataset.is_mediconfusion else dataset.label
    lines += [f"# {md(benchmark_name(document))}: {md(model.spec)} ({md(config.mode)})", ""]
    if model.note:
        lines += [f"> {md(model.note)}", ""]
    lines.append(
        f"Dataset {md(dataset_name)} · {counts.pairs_scored} of {counts.pairs_in_dataset} "
        f"pairs scored · {counts.pairs_skipped} skipped · {counts.pairs_errored} errored"
    )
    lines += ["", *markdown_table(document.metrics), "", interval_line(document.metrics.overall), ""]
    lines += [f"- {md(hint)}" for hint in hints(document)]
    if gate is None:
        lines += [f"- **Problem:** {md(problem)}" for problem in document.problems]
    if document.probes is not None and document.probes.figures:
        lines += ["", "## Robustness probes", "", *probe_markdown(document.probes)]
    if document.baseline is not None:
        lines += markdown_comparison(document.baseline)
    top = informative_failures(document)
    if top:
        total = sum(1 for p in document.pairs if p.failure_class)
        lines += [
            "",
            f"## Most informative failures ({len(top)} of {total})",
            "",
            "| Pair | Class | Categories | Image 1: truth → answer | Image 2: truth → answer | Question |",
            "|---|---|---|---|---|---|",
        ]
        for record in top:
            lines.append(
                f"| {md(record.pair_id)} | {record.failure_class} | {md(', '.join(record.all_categories), 40)} | "
                f"{_answered(record, 0)} | {_answered(record, 1)} | {md(record.question, 60)} |"
            )
    return "\n".join(lines).rstrip() + "\n"
