"""Old run folders removed, newest kept: ``mediconfusion clean --keep N`` and the ``keep_runs`` setting.

Only folders this suite wrote are candidates: a name that starts with a run id's
timestamp and a results.json inside. The folder ``latest`` points to is always
kept, and nothing else under the results folder (the answer store, a user's
files) is touched.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mediconfusion_tests.run.run_folder import LATEST

if TYPE_CHECKING:
    from pathlib import Path

#: 20261126-013008-demo-mc (and -2, -3 when two runs finished in the same second).
RUN_FOLDER = re.compile(r"^\d{8}-\d{6}-")


@dataclass(frozen=True)
class Cleanup:
    removed: list[Path]
    kept: list[Path]
    #: Folders that could not be removed, with why.
    failed: list[tuple[Path, str]]


def run_folders(results_dir: Path) -> list[Path]:
    """The run folders under results_dir, newest first (the name starts with the finishing time)."""
    if not results_dir.is_dir():
        return []
    found = [
        path
        for path in results_dir.iterdir()
        if path.is_dir() and not path.is_symlink() and RUN_FOLDER.match(path.name) and (path / "results.json").is_file()
    ]
    return sorted(found, key=lambda path: (path.name[:15], path.stat().st_mtime, path.name), reverse=True)


def _latest_target(results_dir: Path) -> Path | None:
    latest = results_dir / LATEST
    if latest.is_symlink():
        return latest.resolve()
    return None


def clean_runs(results_dir: Path, keep: int, dry_run: bool = False, protect: Path | None = None) -> Cleanup:
    """Remove all but the ``keep`` newest run folders; never the one ``latest`` points to, nor ``protect``."""
    if keep < 1:
        raise ValueError(f"keep must be at least 1, got {keep}")
    folders = run_folders(results_dir)
    protected = {path for path in (_latest_target(results_dir), protect) if path is not None}
    protected = {path.resolve() for path in protected}
    kept, removed, failed = [], [], []
    for index, folder in enumerate(folders):
        if index < keep or folder.resolve() in protected:
            kept.append(folder)
            continue
        if not dry_run:
            try:
                shutil.rmtree(folder)
            except OSError as error:
                failed.append((folder, str(error)))
                continue
        removed.append(folder)
    return Cleanup(removed, kept, failed)
