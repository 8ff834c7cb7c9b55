"""The run folder's files, each rendered from the one results document.

results.json comes first (everything else can be rebuilt from it), then every
registered writer (ours: summary.md, report.html, the CI step summary; others'
through WRITERS, an entry point or the pytest_mediconfusion_writers hook),
Allure's run files, and the ``latest`` link when the run is complete.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path

from mediconfusion_tests.atomic import write_text_atomic
from mediconfusion_tests.extensions import Registry
from mediconfusion_tests.reporting.html_report import write_report
from mediconfusion_tests.reporting.markdown import markdown_summary
from mediconfusion_tests.results.document import ResultsDocument, write_document
from mediconfusion_tests.run.run_folder import create_run_folder, update_latest

LOG = logging.getLogger(__name__)
STEP_SUMMARY = "GITHUB_STEP_SUMMARY"

#: writer(document, run folder) -> {what it wrote: path}. Called after results.json is written, in order.
Writer = Callable[[ResultsDocument, Path], Mapping[str, Path]]


def _writer(item: object) -> Writer:
    if not callable(item):
        raise TypeError(f"a report writer must be callable as writer(document, folder) -> {{name: path}}: {item!r:.60}")
    return item


#: The run folder's files beside results.json: ours, registered here as any other writer is.
WRITERS: Registry[Writer] = Registry("writers", _writer)


def write_summary(document: ResultsDocument, folder: Path) -> dict[str, Path]:
    write_text_atomic(folder / "summary.md", markdown_summary(document))
    return {"summary": folder / "summary.md"}


def write_html(document: ResultsDocument, folder: Path) -> dict[str, Path]:
    return {"report": write_report(document, folder / "report.html")}


def write_step_summary(document: ResultsDocument, folder: Path) -> dict[str, Path]:
    """On GitHub Actions, the summary on the job's page as well."""
    step_summary = os.environ.get(STEP_SUMMARY)
    if not step_summary:
        return {}
    with Path(step_summary).open("a", encoding="utf-8") as handle:
        handle.write(markdown_summary(document) + "\n")
    return {"step summary": Path(step_summary)}


WRITERS.register("summary", write_summary)
WRITERS.register("html", write_html)
WRITERS.register("step-summary", write_step_summary)


def write_outputs(document: ResultsDocument, results_dir: Path, allure_dir: Path | None = None) -> dict[str, Path]:
    """Write every output of a finished run; the paths written, by what they are."""
    folder = create_run_folder(results_dir, document.run.id)
    written = {"results": folder / "results.json"}
    write_document(written["results"], document)
    for name, writer in WRITERS.items():
        try:
            written.update(writer(document, folder))
        except Exception as exc:
            if name in ("summary", "html", "step-summary"):
                raise
            # results.json is written: a third-party writer's failure loses nothing and is named.
            LOG.warning("mediconfusion: report writer %r failed: %s: %s", name, type(exc).__name__, exc)
    if allure_dir is not None:
        from mediconfusion_tests.reporting.allure_case import write_run_files

        write_run_files(allure_dir, document)
        written["allure results"] = allure_dir
    if moves_latest(document):
        written["latest"] = update_latest(results_dir, folder)
    if document.config.keep_runs:
        from mediconfusion_tests.run.cleanup import clean_runs

        clean_runs(results_dir, document.config.keep_runs, protect=folder)
    return written


def moves_latest(document: ResultsDocument) -> bool:
    """Whether the run becomes ``latest``: a partial run (stopped, interrupted, pairs missing) or a subset
    (--limit, -k, -m, --lf) never replaces the last complete one. A shard does: it is a planned part whose
    results dir its merge reads (`mediconfusion merge s1/latest s2/latest`)."""
    run = document.run
    return bool(run.complete) and (run.subset is None or run.shard is not None)
