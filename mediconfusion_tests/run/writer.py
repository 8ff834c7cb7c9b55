"""The run folder's files, each rendered from the one results document.

results.json comes first (everything else can be rebuilt from it), then
summary.md, report.html, the CI step summary, Allure's run files, and the
``latest`` link when the run is complete.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from mediconfusion_tests.atomic import write_text_atomic
from mediconfusion_tests.reporting.html_report import write_report
from mediconfusion_tests.reporting.markdown import markdown_summary
from mediconfusion_tests.results.document import ResultsDocument, write_document
from mediconfusion_tests.run.run_folder import create_run_folder, update_latest

if TYPE_CHECKING:
    from collections.abc import Mapping

STEP_SUMMARY = "GITHUB_STEP_SUMMARY"


def write_outputs(
    document: ResultsDocument,
    results_dir: Path,
    allure_dir: Path | None = None,
    environ: Mapping[str, str] = os.environ,
) -> dict[str, Path]:
    """Write every output of a finished run; the paths written, by what they are."""
    folder = create_run_folder(results_dir, document.run.id)
    written = {"results": folder / "results.json", "summary": folder / "summary.md"}
    write_document(written["results"], document)
    summary = markdown_summary(document)
    write_text_atomic(written["summary"], summary)
    written["report"] = write_report(document, folder / "report.html")
    step_summary = environ.get(STEP_SUMMARY)
    if step_summary:
        with Path(step_summary).open("a", encoding="utf-8") as handle:
            handle.write(summary + "\n")
        written["step summary"] = Path(step_summary)
    if allure_dir is not None:
        from mediconfusion_tests.reporting.allure_case import write_run_files

        write_run_files(allure_dir, document)
        written["allure results"] = allure_dir
    if document.run.complete:
        # A partial run (stopped, interrupted, pairs missing) never replaces the last complete one.
        written["latest"] = update_latest(results_dir, folder)
    if document.config.keep_runs:
        from mediconfusion_tests.run.cleanup import clean_runs

        clean_runs(results_dir, document.config.keep_runs, protect=folder)
    return written
