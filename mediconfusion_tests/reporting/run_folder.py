"""The run folder under --results-dir, and the ``latest`` link to it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

LATEST = "latest"


def create_run_folder(results_dir: Path, run_id: str) -> Path:
    results_dir.mkdir(parents=True, exist_ok=True)
    folder = results_dir / run_id
    suffix = 1
    while folder.exists():
        suffix += 1
        folder = results_dir / f"{run_id}-{suffix}"
    folder.mkdir()
    return folder


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
        os.replace(scratch, latest)
    except OSError:
        if latest.is_symlink():
            latest.unlink()
        elif latest.exists():
            shutil.rmtree(latest)
        shutil.copytree(folder, latest)
    return latest
