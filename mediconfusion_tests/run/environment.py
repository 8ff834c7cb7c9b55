"""Facts about the machine and software of a run, gathered without importing torch."""

from __future__ import annotations

import os
import platform
import shutil
import socket
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

PACKAGES = (
    "mediconfusion-tests",
    "pytest",
    "pytest-xdist",
    "torch",
    "transformers",
    "huggingface_hub",
    "pillow",
)


def package_versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found


def git_commit(folder: Path) -> str | None:
    git = shutil.which("git")
    if git is None:
        return None
    try:
        result = subprocess.run(  # noqa: S603 - a fixed argument list, no shell
            [git, "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None if result.returncode == 0 else None


def environment(folder: Path, workers: int) -> dict[str, Any]:
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "hostname": socket.gethostname(),
        "packages": package_versions(),
        "git_commit": git_commit(folder),
        "xdist_workers": workers,
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "ci": {k: os.environ[k] for k in ("CI", "GITHUB_RUN_ID", "GITHUB_SHA") if k in os.environ},
    }
