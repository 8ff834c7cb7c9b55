"""image_dict.json: which article figure each benchmark image is.

Keys are ROCO paths (``train/radiology/images/ROCO_28778.jpg``); values hold
the local id the suite names the file by, the FTP link of the article's Open
Access package (whose name is the PMCID) and the figure's file name inside it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from mediconfusion_tests.data.hub import HUB_REPO, download_dataset_file
from mediconfusion_tests.data.image_sources import ImageEntry
from mediconfusion_tests.errors import DataError

IMAGE_DICT = "image_dict.json"
_PMCID = re.compile(r"(PMC\d+)\.tar\.gz$")


def locate_image_dict(dataset: str, revision: str | None = None) -> tuple[Path, str]:
    """The file and a label saying where it came from (hub repo@commit or the path)."""
    if dataset == "hub":
        path, commit = download_dataset_file(revision, filename=IMAGE_DICT)
        return path, f"{HUB_REPO}@{(commit or revision or 'main')[:12]}"
    path = Path(dataset).expanduser()
    if path.is_dir():
        path = path / IMAGE_DICT
    if not path.is_file():
        raise DataError(
            f"No {IMAGE_DICT} at {path}. Pass --dataset hub, the folder holding the hub dataset's files, "
            f"or the {IMAGE_DICT} file itself."
        )
    return path, str(path)


def _entry(key: str, value: Any, where: Path) -> ImageEntry:
    if not isinstance(value, dict):
        raise DataError(f"{where}: entry {key!r} is not an object")
    missing = [name for name in ("local", "dlink", "file_name") if name not in value]
    if missing:
        raise DataError(f"{where}: entry {key!r} lacks {', '.join(missing)}")
    match = _PMCID.search(str(value["dlink"]))
    if match is None:
        raise DataError(f"{where}: entry {key!r} has a dlink without a PMCID package name: {value['dlink']!r}")
    try:
        local_id = int(value["local"])
    except (TypeError, ValueError) as exc:
        raise DataError(f"{where}: entry {key!r} has a non-integer local id {value['local']!r}") from exc
    file_name = str(value["file_name"])
    if not file_name or "/" in file_name or file_name in {".", ".."}:
        raise DataError(f"{where}: entry {key!r} has an unusable file name {file_name!r}")
    return ImageEntry(roco_path=key, local_id=local_id, pmcid=match.group(1), file_name=file_name)


def read_image_dict(path: Path) -> list[ImageEntry]:
    """Every image, in local-id order; bad entries are named by their ROCO path."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"Cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected an object keyed by ROCO path")
    entries = [_entry(key, value, path) for key, value in data.items()]
    seen: dict[int, str] = {}
    for entry in entries:
        if entry.local_id in seen:
            raise DataError(
                f"{path}: local id {entry.local_id} is used by both {seen[entry.local_id]!r} and {entry.roco_path!r}"
            )
        seen[entry.local_id] = entry.roco_path
    return sorted(entries, key=lambda e: e.local_id)
