"""Where a dataset's image references may point, and reading them safely.

The rule, by where the reference comes from:

- **dataset.json / dataset.csv** (``im_1``/``im_2``, ROCO paths): relative paths under the images
  folder (``--images``); an absolute path or one that climbs out with ``..`` is refused.
- **a hub table** (``hf:ORG/NAME``): only files of its own snapshot. A relative path is fetched from
  the dataset's repository at the run's revision (``hf_hub_download``, the cache when offline); an
  absolute path is accepted only inside Hugging Face's caches, where ``datasets`` puts its downloads.
- **a local table** (``save_to_disk`` folder, parquet, make-pairs' CSV): relative paths resolve against
  the table's own folder and may not climb out of it; absolute paths are read as written, because
  the table is the user's own file on their own machine (its images then appear in report.html
  unless ``--no-images-in-report``).

Whatever the source, only regular files are read (never a FIFO, a device or a socket: opened
without blocking, checked by ``fstat``), and at most ``MAX_IMAGE_BYTES`` of them.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

#: The largest image file read (a 4096 x 4096 16-bit PNG is 32 MiB).
MAX_IMAGE_BYTES = 100 * 1024 * 1024


class ImageReferenceError(ValueError):
    """An image reference that points where it may not, or a file that is not a readable image file."""


def relative_problem(reference: str) -> str | None:
    """Why a reference is not a plain relative path that stays where it starts, or None."""
    if PurePosixPath(reference).is_absolute() or PureWindowsPath(reference).is_absolute() or reference[:1] == "~":
        return f"{reference!r} is an absolute path"
    if ".." in PurePosixPath(reference.replace("\\", "/")).parts:
        return f"{reference!r} climbs out of its folder with '..'"
    return None


def read_image_file(path: Path, limit: int = MAX_IMAGE_BYTES) -> bytes:
    """The file's bytes: a regular file only, at most ``limit`` bytes (ImageReferenceError otherwise)."""
    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise ImageReferenceError(f"cannot read the image file {path} ({exc.strerror or exc})") from None
    with os.fdopen(descriptor, "rb") as handle:
        facts = os.fstat(handle.fileno())
        if not stat.S_ISREG(facts.st_mode):
            raise ImageReferenceError(f"{path} is not a regular file (a device, FIFO or socket is never read)")
        if facts.st_size > limit:
            raise ImageReferenceError(f"{path} is {facts.st_size} bytes, over the {limit} bytes an image may have")
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise ImageReferenceError(f"{path} grew past the {limit} bytes an image may have while it was read")
    return data


def local_files(folder: Path) -> Callable[[str], Path]:
    """References of a local table: relative to its folder and inside it, or absolute as written."""
    root = folder.resolve()

    def resolve(reference: str) -> Path:
        given = Path(reference).expanduser()
        if given.is_absolute():
            return given
        if ".." in given.parts:
            target = (root / given).resolve()
            if not target.is_relative_to(root):
                raise ImageReferenceError(f"{reference!r} climbs out of the table's folder {root}")
        return root / given

    return resolve


def hub_files(repo: str, revision: str | None) -> Callable[[str], Path]:
    """References of a hub table: files of its own snapshot, or datasets' downloads in the caches."""

    def resolve(reference: str) -> Path:
        given = Path(reference)
        if given.is_absolute():
            if any(given.resolve().is_relative_to(cache) for cache in _hf_caches()):
                return given
            raise ImageReferenceError(
                f"{reference!r} is outside the dataset's own snapshot: a hub table may only reference files "
                "of its repository (relative paths) or embed its images"
            )
        problem = relative_problem(reference)
        if problem is not None:
            raise ImageReferenceError(f"{problem}: a hub table may only reference files of its repository")
        from huggingface_hub import hf_hub_download

        try:
            return Path(hf_hub_download(repo, reference, repo_type="dataset", revision=revision))
        except Exception as exc:  # noqa: BLE001 - the hub client raises many types; the reference is the news
            raise ImageReferenceError(f"{reference!r} is not a file of {repo} ({type(exc).__name__})") from None

    return resolve


def _hf_caches() -> list[Path]:
    from huggingface_hub import constants

    caches = [Path(constants.HF_HUB_CACHE).resolve()]
    try:
        import datasets

        caches.append(Path(datasets.config.HF_DATASETS_CACHE).resolve())
    except ImportError:
        pass
    return caches
