"""`mediconfusion report allure`: build the Allure report (one HTML file) with Node.js.

Allure 3 (npm package ``allure``): an installed ``allure`` command, else
``npx --yes allure@3``. The report carries MediConfusion's failure classes as
categories and the release verdict as its quality gate, both from a generated
``allurerc.mjs`` (see allure_config.py); history is carried between runs in one
JSON-lines file (``--history``), which CI caches next to the answer store.

Allure 2 (the Java command line) has no ``awesome`` report and no quality gate;
with it, the classic report is built and reads ``categories.json``.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from mediconfusion_tests.reporting.allure_case import VERDICT_FILE
from mediconfusion_tests.reporting.allure_config import allure3_config

LOG = logging.getLogger(__name__)

GROUP_BY = ("epic", "feature", "story")
REPORT_NAME = "MediConfusion"
INSTALL_HELP = (
    "Allure 3 runs on Node.js (18 or newer). Install Node.js, then either `npm install -g allure` "
    "or let this command use `npx allure@3`; see https://allurereport.org/docs/install/"
)
#: Seconds `allure --version` may take (npx may first download the package).
VERSION_TIMEOUT_S = 300


def allure_command() -> list[str] | None:
    installed = shutil.which("allure")
    if installed:
        return [installed]
    npx = shutil.which("npx")
    if npx and shutil.which("node"):
        return [npx, "--yes", "allure@3"]
    return None


def allure_version(command: list[str]) -> tuple[int, ...] | None:
    """The version `allure --version` prints (Allure 2 and 3 both answer it), or None."""
    try:
        result = subprocess.run(  # noqa: S603 - our own argument list, no shell
            [*command, "--version"], capture_output=True, text=True, timeout=VERSION_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = re.search(r"\b(\d+)\.(\d+)(?:\.(\d+))?", result.stdout + result.stderr)
    if result.returncode != 0 or found is None:
        return None
    return tuple(int(part) for part in found.groups() if part is not None)


def read_verdict(results: Path) -> dict[str, Any] | None:
    path = results / VERDICT_FILE
    if not path.is_file():
        return None
    try:
        verdict: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        LOG.warning("mediconfusion: ignoring %s: %s", path, error)
        return None
    if verdict.get("schema") != "mediconfusion-tests/allure-verdict" or not isinstance(verdict.get("checks"), list):
        LOG.warning("mediconfusion: ignoring %s: not a mediconfusion verdict", path)
        return None
    return verdict


def build_allure(results: Path, output: Path, history: Path) -> int:
    if not results.is_dir() or not any(results.glob("*-result.json")):
        print(f"mediconfusion: no Allure results in {results}; run pytest with --alluredir={results}", file=sys.stderr)
        return 2
    command = allure_command()
    if command is None:
        print(f"mediconfusion: cannot build the Allure report: {INSTALL_HELP}", file=sys.stderr)
        return 2
    version = allure_version(command)
    where = " ".join(command)
    if version is None:
        print(f"mediconfusion: `{where} --version` did not answer with a version; {INSTALL_HELP}", file=sys.stderr)
        return 2
    shown = ".".join(map(str, version))
    if version[0] == 2:
        print(
            f"mediconfusion: found Allure {shown} at {where}: Allure 2 has no `awesome` report and no quality gate; "
            "building its classic report, whose Categories tab reads categories.json. "
            "For the one-file report with the release gate, install Allure 3: npm install -g allure",
            file=sys.stderr,
        )
        return _build_allure2(command, results, output)
    if version[0] != 3:
        print(f"mediconfusion: found Allure {shown} at {where}; this command knows Allure 2 and 3", file=sys.stderr)
        return 2
    print(f"allure: {shown} ({where})")
    refusal = _unsafe_output(results, output)
    if refusal:
        print(f"mediconfusion: {refusal}", file=sys.stderr)
        return 2
    return _build_allure3(command, results, output, history)


def _unsafe_output(results: Path, output: Path) -> str | None:
    """Allure replaces the output folder: never one that holds anything but an earlier report."""
    out, res = output.resolve(), results.resolve()
    if out == res or out in res.parents:
        return f"the report folder {output} would replace the results in {results}; choose another -o"
    if out.is_file():
        return f"{output} is a file; -o names the folder the report goes to"
    if out.is_dir() and any(out.iterdir()) and not (out / "index.html").is_file():
        return f"{output} is a folder that holds something other than an Allure report; choose another -o"
    return None


def _build_allure3(command: list[str], results: Path, output: Path, history: Path) -> int:
    verdict = read_verdict(results)
    if verdict is None:
        print(
            f"mediconfusion: no {VERDICT_FILE} in {results} (the run did not finish, or an older version wrote it): "
            "the report will have no quality gate",
            file=sys.stderr,
        )
    output = output.resolve()
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="mediconfusion-allure-") as work:
        staged = Path(work) / "allure-results"
        staged.mkdir()
        config = Path(work) / "allurerc.mjs"
        config.write_text(
            allure3_config(verdict, name=REPORT_NAME, history=str(history.resolve()), group_by=GROUP_BY),
            encoding="utf-8",
        )
        arguments = [
            *command,
            "run",
            "--config",
            str(config),
            "--output",
            str(output),
            "--results-dir",
            str(staged),
            "--ignore-logs",
            "--",
            sys.executable,
            "-m",
            "mediconfusion_tests.reporting.allure_stage",
            str(results.resolve()),
            str(staged),
            "1" if verdict is not None and not verdict["passed"] else "0",
        ]
        # Allure's own output (the staging command it wraps, "process finished with code 1") is plumbing: shown
        # only when the build failed.
        result = subprocess.run(  # noqa: S603 - our own argument list, no shell
            arguments, check=False, cwd=work, capture_output=True, text=True, errors="replace"
        )
    page = output / "index.html"
    built = page.is_file() and page.stat().st_mtime >= started - 1
    # `allure run` exits 1 when its quality gate fails: that is the release verdict, not a failed build.
    if not built or result.returncode not in (0, 1):
        said = (result.stdout + result.stderr).strip().splitlines()[-20:]
        print("\n".join(["mediconfusion: allure output (last lines):", *said]), file=sys.stderr)
        print(f"mediconfusion: allure exited with status {result.returncode}; no report built", file=sys.stderr)
        return result.returncode or 2
    settle_single_file(page)
    failed = verdict is not None and not verdict["passed"]
    gate = "" if verdict is None else f"; quality gate {'FAILED' if failed else 'passed'}, as the run's gate"
    print(f"allure report: {page} (history: {history}{gate})")
    # The exit status says what the quality gate said, as `allure run` and the run itself do: 1 when it failed.
    return 1 if failed else 0


#: Where Allure 3's one-file page declares its embedded data (after the app's script).
_DATA_DECLARED = "window.allureReportDataReady = false"
_DATA_EARLY = "<script>window.allureReportData = window.allureReportData || {};</script>"


def settle_single_file(page: Path) -> bool:
    """Declare the embedded-data table before Allure 3's app runs; True when the page was changed.

    The one-file page loads the app before the script holding the data. When the
    app asks for its first widgets before the browser has parsed that far (about
    one opening in twenty here), it sees no table, fetches widgets/*.json from
    disk, the browser refuses file:// fetches and the report stays blank. With the
    table declared first, the app waits for the data to be ready instead; the
    data script keeps an existing table (``|| {}``).
    """
    text = page.read_text(encoding="utf-8")
    if _DATA_DECLARED not in text or _DATA_EARLY in text:
        return False
    head = re.search(r"<head[^>]*>", text, flags=re.IGNORECASE)
    if head is None:
        return False
    page.write_text(text[: head.end()] + _DATA_EARLY + text[head.end() :], encoding="utf-8")
    return True


def _build_allure2(command: list[str], results: Path, output: Path) -> int:
    arguments = [*command, "generate", str(results), "--clean", "-o", str(output), "--single-file"]
    result = subprocess.run(arguments, check=False)  # noqa: S603 - our own argument list, no shell
    if result.returncode != 0:
        print(f"mediconfusion: allure exited with status {result.returncode}", file=sys.stderr)
        return result.returncode
    print(f"allure report: {output / 'index.html'} (Allure 2 classic report)")
    return 0
