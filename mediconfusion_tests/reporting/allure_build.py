"""`mediconfusion report allure`: build the Allure 3 report (one HTML file) with Node.js.

Uses an installed ``allure`` command (npm package ``allure``, version 3), else
``npx --yes allure@3``. History is carried between runs in one JSON-lines file
(``--history``), which CI caches next to the answer store.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

GROUP_BY = "epic,feature,story"
INSTALL_HELP = (
    "Allure 3 runs on Node.js (18 or newer). Install Node.js, then either `npm install -g allure` "
    "or let this command use `npx allure@3`; see https://allurereport.org/docs/install/"
)


def allure_command() -> list[str] | None:
    installed = shutil.which("allure")
    if installed:
        return [installed]
    npx = shutil.which("npx")
    if npx and shutil.which("node"):
        return [npx, "--yes", "allure@3"]
    return None


def build_allure(results: Path, output: Path, history: Path) -> int:
    if not results.is_dir() or not any(results.glob("*-result.json")):
        print(f"mediconfusion: no Allure results in {results}; run pytest with --alluredir={results}", file=sys.stderr)
        return 2
    command = allure_command()
    if command is None:
        print(f"mediconfusion: cannot build the Allure report: {INSTALL_HELP}", file=sys.stderr)
        return 2
    arguments = [
        *command,
        "awesome",
        str(results),
        "--output",
        str(output),
        "--single-file",
        "--history-path",
        str(history),
        "--group-by",
        GROUP_BY,
        "--report-name",
        "MediConfusion",
    ]
    result = subprocess.run(arguments, check=False)  # noqa: S603 - our own argument list, no shell
    if result.returncode != 0:
        print(f"mediconfusion: allure exited with status {result.returncode}", file=sys.stderr)
        return result.returncode
    print(f"allure report: {output / 'index.html'} (history: {history})")
    return 0
