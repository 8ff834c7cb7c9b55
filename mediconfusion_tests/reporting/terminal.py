"""The end-of-run summary in the terminal, rendered from the results document.

Each line carries its kind, so the plugin colours it by what it is (a failed
condition, a problem, a note) rather than by matching its text.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Literal

from mediconfusion_tests.reporting.comparison_text import terminal_comparison
from mediconfusion_tests.reporting.formatting import probe_failure_text
from mediconfusion_tests.reporting.gate_text import describe
from mediconfusion_tests.reporting.hints import hints
from mediconfusion_tests.reporting.tables import interval_line, probe_table, terminal_table
from mediconfusion_tests.results.decision import BUDGET_STOP, LOAD_FAILED
from mediconfusion_tests.scoring.outcome import FAILURE_CLASSES

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

    from mediconfusion_tests.results.document import ResultsDocument


LineKind = Literal[
    "text", "verdict-pass", "verdict-fail", "condition-pass", "condition-fail", "warning", "problem", "note"
]
Line = tuple[str, LineKind]


def verdict_lines(document: ResultsDocument) -> list[Line]:
    gate = document.gate
    shard = document.run.shard
    if shard is not None and (document.config.gates or document.config.baseline):
        return [
            (
                f"GATE DEFERRED: shard {shard.index}/{shard.count} holds part of the pairs; "
                "`mediconfusion merge` gates (and compares) the joined run",
                "text",
            )
        ]
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


def pair_lines(document: ResultsDocument) -> list[Line]:
    """One line per failing pair, most telling class first: what a reader scans for."""
    failing = [p for p in document.pairs if p.failure_class]
    failing.sort(key=lambda p: (FAILURE_CLASSES.index(p.failure_class) if p.failure_class else 9, p.pair_id))
    width = max((len(p.failure_class or "") for p in failing), default=0)
    return [
        (f"{(record.failure_class or '').upper():<{width}} {record.pair_id}: {_first_line(record.failure)}", "text")
        for record in failing
    ]


def _first_line(text: str | None) -> str:
    """The failure message without the class it starts with (the line already names it)."""
    line = (text or "").splitlines()[0] if text else ""
    for prefix in ("confused: ", "model error: "):
        line = line.removeprefix(prefix)
    return line


EXIT_WORDS = {2: "interrupted", 3: "internal error", 4: "usage error", 5: "no tests collected"}


def failing_probe_lines(document: ResultsDocument) -> list[Line]:
    """One line per probe that did not hold (or could not be asked), like the failing pairs' lines."""
    if document.probes is None:
        return []
    failing = [p for p in document.probes.pairs if p.status in ("inconsistent", "error")]
    failing.sort(key=lambda p: (p.status != "inconsistent", p.probe, p.pair_id))
    width = max((len(p.probe) for p in failing), default=0)
    return [
        (f"{r.status.upper():<12} {r.probe:<{width}} {r.pair_id}: {probe_failure_text(r)}", "text") for r in failing
    ]


def failing_cases(document: ResultsDocument) -> str:
    """ "13 pair case(s)", "13 pair case(s) and 23 probe case(s)", or "" when none failed."""
    pairs = sum(1 for p in document.pairs if p.failure_class)
    probes = 0 if document.probes is None else sum(p.status in ("inconsistent", "error") for p in document.probes.pairs)
    parts = [f"{pairs} pair case(s)"] if pairs else []
    parts += [f"{probes} probe case(s)"] if probes else []
    return " and ".join(parts)


def exit_line(document: ResultsDocument, status: int) -> Line:
    """The last line: the exit status and why, in words a CI log reader needs."""
    failing = failing_cases(document)
    gate = document.gate
    if status in EXIT_WORDS:
        return f"exit {status}: {EXIT_WORDS[status]}", "verdict-fail"
    if any(p.startswith(LOAD_FAILED) for p in document.problems):
        return f"exit {status}: {LOAD_FAILED} (see the PROBLEM line above)", "verdict-fail"
    if any(p.startswith(BUDGET_STOP) for p in document.problems):
        return f"exit {status}: {BUDGET_STOP} by its budget; the results are partial", "verdict-fail"
    shard = document.run.shard
    if shard is not None:
        if status == 0:
            return (
                f"exit 0: shard {shard.index}/{shard.count} ran without problems; "
                "`mediconfusion merge` decides the gate on all shards",
                "verdict-pass",
            )
        return f"exit {status}: shard {shard.index}/{shard.count} has problems (see the PROBLEM lines)", "verdict-fail"
    if gate is not None and gate.passed:
        why = "the gate passed"
        if failing:
            why += f"; {failing} failed, as they may for a model below 100% set accuracy"
        return f"exit {status}: {why}", "verdict-pass"
    if gate is not None:
        failed = [c.condition for c in gate.conditions if not c.passed]
        why = f"the gate failed ({', '.join(failed)})" if failed else "the gate failed: the run has problems"
        return f"exit {status}: {why}", "verdict-fail"
    if status == 0:
        return "exit 0: every pair case passed (no --gate given)", "verdict-pass"
    why = f"{failing} failed" if failing else "a test failed"
    return (
        f"exit {status}: {why} and no --gate was given, so any failure fails the run "
        "(pass --gate to decide by the metrics)",
        "verdict-fail",
    )


def shown_path(path: Path, base: Path | None) -> str:
    """A written file as the reader can open it: relative to where pytest was started, when it lies below."""
    if base is not None and path.is_absolute():
        try:
            return str(path.relative_to(base))
        except ValueError:
            pass
    return str(path)


def terminal_summary(
    document: ResultsDocument, written: Mapping[str, Path], status: int | None = None, base: Path | None = None
) -> list[Line]:
    config, counts = document.config, document.counts
    skipped = [p for p in document.pairs if p.status == "skipped"]
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
    failing = pair_lines(document)
    if failing:
        lines += [("", "text"), *failing]
    lines += [("", "text"), *((row, "text") for row in terminal_table(document.metrics)), ("", "text")]
    lines.append((interval_line(document.metrics.overall), "text"))
    failure = failure_line(Counter({str(k): v for k, v in counts.failure_classes.items()}))
    if failure:
        lines.append((failure, "text"))
    lines += [(hint, "text") for hint in hints(document)]
    if document.probes is not None and document.probes.figures:
        seed = f"run seed {document.probes.seed}, {document.probes.examples} image example(s) per pair"
        lines += [("", "text"), (f"Probes ({seed}):", "text")]
        lines += [(row, "text") for row in probe_table(document.probes)]
        probe_failures = failing_probe_lines(document)
        if probe_failures:
            lines += [("", "text"), *probe_failures]
    if document.baseline is not None:
        lines += [("", "text"), *((line, "text") for line in terminal_comparison(document.baseline))]
    lines += [(f"{name}: {shown_path(path, base)}", "text") for name, path in written.items()]
    if written and "latest" not in written and document.run.complete and document.run.subset:
        lines.append(("latest: unchanged (a subset of the benchmark never becomes latest)", "text"))
    lines += [("", "text"), *verdict_lines(document)]
    lines += [(f"WARNING: {w}", "warning") for w in document.warnings]
    lines += [(f"PROBLEM: {p}", "problem") for p in document.problems]
    if status is not None:
        lines.append(exit_line(document, status))
    return lines
