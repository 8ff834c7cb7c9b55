"""The end-of-run summary: terminal lines and summary.md."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from mediconfusion_tests.reporting.comparison_text import markdown_comparison, terminal_comparison
from mediconfusion_tests.reporting.markdown_text import code, md
from mediconfusion_tests.reporting.tables import interval_line, markdown_table, terminal_table
from mediconfusion_tests.scoring.metrics import Metrics

if TYPE_CHECKING:
    from mediconfusion_tests.session import RunSession, Verdict


def _verdict_lines(verdict: Verdict) -> list[str]:
    if not verdict.gated:
        return []
    head = "GATE PASSED" if verdict.passed else "GATE FAILED"
    if verdict.problems and not verdict.passed and all(r.passed for r in verdict.results):
        head += " (conditions hold, but the run has problems: see below)"
    return [head, *(f"  {r.describe()}" for r in verdict.results)]


def _failure_line(classes: Counter[str]) -> str | None:
    if not classes:
        return None
    order = ("confused", "wrong", "invalid", "error")
    return "failing pairs: " + ", ".join(f"{classes[c]} {c}" for c in order if classes[c])


def terminal_summary(session: RunSession, metrics: Metrics, verdict: Verdict) -> list[str]:
    config = session.config
    skipped = session.skips()
    scored = metrics.overall.pairs
    lines = [
        f"model {session.spec.raw} · mode {config.mode} · dataset {session.plan.dataset.label} · seed {config.seed}",
        f"scored {scored} of {len(session.pairs)} pairs"
        + (f" ({len(skipped)} skipped)" if skipped else "")
        + (f" · {len(session.errors)} errored" if session.errors else ""),
    ]
    if session.entry.note:
        lines.append(f"NOTE: {session.entry.note}")
    lines += ["", *terminal_table(metrics), "", interval_line(metrics.overall)]
    failure = _failure_line(Counter(o.failure_class for o in session.outcomes.values() if o.failure_class))
    if failure:
        lines.append(failure)
    if config.mode == "mc":
        changed = sum(a.decision != a.alternative_decision for o in session.outcomes.values() for a in o.answers or ())
        other = "robust" if config.answer_parser == "paper" else "paper"
        lines.append(f"answer parser: {config.answer_parser}; {changed} decision(s) would differ with {other}")
    if session.audit and session.audit.get("mismatches"):
        lines.append(
            f"WARNING: {len(session.audit['mismatches'])} replayed pair(s) differ from the scores the "
            "original harness recorded (see results.json model.audit)"
        )
    if skipped:
        shown = ", ".join(f"{pair_id} ({why})" for pair_id, why in list(skipped.items())[:5])
        lines.append(f"skipped: {shown}" + (f" and {len(skipped) - 5} more" if len(skipped) > 5 else ""))
    document_baseline = session.comparison.to_dict() if session.comparison is not None else None
    if document_baseline is not None:
        lines += ["", *terminal_comparison(document_baseline)]
    lines += ["", *_verdict_lines(verdict)]
    lines += [f"WARNING: {w}" for w in verdict.warnings]
    lines += [f"PROBLEM: {p}" for p in verdict.problems]
    lines += [f"{name}: {path}" for name, path in session.written.items()]
    return lines


#: Most telling first: the confusion MediConfusion measures, then wrong, invalid, errors.
CLASS_RANK = {"confused": 0, "wrong": 1, "invalid": 2, "error": 3}
TOP_FAILURES = 10


def _confidence(record: dict[str, Any]) -> float:
    """How sure the model was of what it answered (score margins, where the mode records scores)."""
    margins = []
    for answer in record.get("answers") or ():
        scores = answer.get("scores") or {}
        if "A" in scores and "B" in scores:
            margins.append(abs(float(scores["A"]) - float(scores["B"])))
    return sum(margins) / len(margins) if margins else 0.0


def informative_failures(document: dict[str, Any], limit: int = TOP_FAILURES) -> list[dict[str, Any]]:
    failing = [p for p in document.get("pairs", []) if p.get("failure_class")]
    failing.sort(key=lambda p: (CLASS_RANK.get(p["failure_class"], 9), -_confidence(p), p["pair_id"]))
    return failing[:limit]


def _cell(text: object, limit: int = 60) -> str:
    return md(text, limit)


def _answered(record: dict[str, Any], index: int) -> str:
    answers = record.get("answers")
    decision = answers[index]["decision"] if answers else None
    raw = answers[index]["raw"] if answers else record.get("error")
    return f"{record['truth'][index]} → {decision or 'invalid'} ({_cell(raw, 30)})"


def markdown_summary(document: dict[str, Any], metrics: Metrics) -> str:
    """For summary.md and a CI step summary: the verdict first, then the table, then the telling failures."""
    model, config, counts = document["model"], document["config"], document["counts"]
    lines = []
    gate = document.get("gate")
    if gate is not None:
        lines.append(f"## {'✅ Release gate passed' if gate['passed'] else '❌ Release gate FAILED'}")
        lines.append("")
        for condition in gate["conditions"]:
            mark = "pass" if condition["passed"] else "**FAIL**"
            if condition.get("detail"):
                lines.append(f"- {mark}: {md(condition['condition'])}: {md(condition['detail'])}")
                continue
            value = "undefined" if condition["value"] is None else f"{condition['value']:.4f}"
            ci = condition.get("ci95")
            interval = f", 95% CI {ci[0]:.3f}-{ci[1]:.3f}" if ci else ""
            threshold = (
                ""
                if condition.get("threshold") is None
                else f", threshold {condition['op']} {condition['threshold']:.4g}"
            )
            lines.append(
                f"- {mark}: {code(condition['condition'])} (value {value}{interval}, n={condition['n']}{threshold})"
            )
        lines += [f"- **Problem:** {md(problem)}" for problem in document.get("problems", [])]
        lines += [f"- **Warning:** {md(warning)}" for warning in document.get("warnings", [])]
        lines.append("")
    lines += [f"# MediConfusion: {md(model['spec'])} ({md(config['mode'])})", ""]
    if model.get("note"):
        lines += [f"> {md(model['note'])}", ""]
    lines.append(
        f"Dataset {md(document['dataset']['source'])} · {counts['pairs_scored']} of {counts['pairs_in_dataset']} "
        f"pairs scored · {counts['pairs_skipped']} skipped · {counts['pairs_errored']} errored"
    )
    lines += ["", *markdown_table(metrics), "", interval_line(metrics.overall), ""]
    if gate is None:
        lines += [f"- **Problem:** {md(problem)}" for problem in document.get("problems", [])]
    if document.get("baseline"):
        lines += markdown_comparison(document["baseline"])
    top = informative_failures(document)
    if top:
        total = sum(1 for p in document.get("pairs", []) if p.get("failure_class"))
        lines += [
            "",
            f"## Most informative failures ({len(top)} of {total})",
            "",
            "| Pair | Class | Categories | Image 1: truth → answer | Image 2: truth → answer | Question |",
            "|---|---|---|---|---|---|",
        ]
        for record in top:
            categories = ", ".join(sorted(set(record["categories"][0]) | set(record["categories"][1])))
            lines.append(
                f"| {md(record['pair_id'])} | {record['failure_class']} | {_cell(categories, 40)} | "
                f"{_answered(record, 0)} | {_answered(record, 1)} | {_cell(record['question'])} |"
            )
    return "\n".join(lines).rstrip() + "\n"
