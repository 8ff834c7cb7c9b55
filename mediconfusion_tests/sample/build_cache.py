"""Where built artefacts live between runs: the sample benchmark, the demo model."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

CACHE_ENV = "MEDICONFUSION_CACHE"


def cache_root() -> Path:
    """$MEDICONFUSION_CACHE, else $XDG_CACHE_HOME/mediconfusion-tests, else ~/.cache/..."""
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "mediconfusion-tests"


def build_once(target: Path, build: Callable[[Path], None]) -> Path:
    """Build a folder at most once, safely when several xdist workers race for it.

    A lock file makes the other workers wait for the first instead of building
    (training the demo model) again beside it; ``build`` fills a private
    temporary folder that is renamed into place, so a build killed half way
    leaves nothing behind that looks finished.
    """
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    from filelock import FileLock  # huggingface_hub's own dependency

    with FileLock(str(target.parent / f".{target.name}.lock")):
        if target.is_dir():
            return target
        _build_into(target, build)
    return target


def _build_into(target: Path, build: Callable[[Path], None]) -> None:
    scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        build(scratch)
        try:
            scratch.rename(target)
        except OSError:
            if not target.is_dir():
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
