"""The run folder under --results-dir, and the ``latest`` link to it."""

from __future__ import annotations

import os
import shutil
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

LATEST = "latest"


def create_run_folder(results_dir: Path, run_id: str) -> Path:
    """A new folder for this run; two runs that finish in the same second each get their own.

    mkdir is the claim (it fails when another process made the folder first), so
    there is no window between looking and creating.
    """
    results_dir.mkdir(parents=True, exist_ok=True)
    suffix = 1
    while True:
        folder = results_dir / (run_id if suffix == 1 else f"{run_id}-{suffix}")
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            suffix += 1


def update_latest(results_dir: Path, folder: Path) -> Path:
    """Point results_dir/latest at the run folder (a symlink, or a copy where links fail)."""
    latest = results_dir / LATEST
    scratch = results_dir / f".{LATEST}-{os.getpid()}"
    try:
        if scratch.is_symlink() or scratch.exists():
            scratch.unlink()
        scratch.symlink_to(folder.name, target_is_directory=True)
        if latest.exists() and not latest.is_symlink():
            shutil.rmtree(latest)
        scratch.replace(latest)
    except OSError:
        if latest.is_symlink():
            latest.unlink()
        elif latest.exists():
            shutil.rmtree(latest)
        shutil.copytree(folder, latest)
    return latest
