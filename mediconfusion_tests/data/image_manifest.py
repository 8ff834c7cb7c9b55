"""manifest.json beside the fetched images: where each came from and its checksum.

Every image of image_dict.json has a record, present or not, so
``mediconfusion verify-images`` can tell a complete folder from an incomplete
one without the network.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from mediconfusion_tests.atomic import write_bytes_atomic
from mediconfusion_tests.data.images import LOCAL, Layout, decode_problem
from mediconfusion_tests.errors import DataError

if TYPE_CHECKING:
    from pathlib import Path

    from mediconfusion_tests.data.image_sources import ImageEntry

MANIFEST = "manifest.json"
FORMAT = 1
PRESENT = "present"
MISSING = "missing"


def target_path(out: Path, entry: ImageEntry, layout: Layout) -> Path:
    """Where the suite's --images looks: {local}.jpg, or the ROCO path."""
    return out / (f"{entry.local_id}.jpg" if layout == LOCAL else entry.roco_path)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class ImageRecord:
    local_id: int
    roco_id: str
    roco_path: str
    pmcid: str
    file_name: str
    path: str
    status: str = MISSING
    source: str | None = None
    url: str | None = None
    bytes: int | None = None
    sha256: str | None = None
    licence: str | None = None
    fetched_at: str | None = None
    errors: list[str] = field(default_factory=list)

    @classmethod
    def for_entry(cls, entry: ImageEntry, path: str) -> ImageRecord:
        return cls(entry.local_id, entry.roco_id, entry.roco_path, entry.pmcid, entry.file_name, path)


@dataclass
class Manifest:
    layout: str
    dataset: str
    images: dict[int, ImageRecord] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "layout": self.layout,
            "dataset": self.dataset,
            "images": [asdict(self.images[key]) for key in sorted(self.images)],
        }

    def write(self, folder: Path) -> Path:
        path = folder / MANIFEST
        write_bytes_atomic(path, (json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n").encode("utf-8"))
        return path


def read_manifest(folder: Path) -> Manifest | None:
    path = folder / MANIFEST
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        records = [ImageRecord(**item) for item in data["images"]]
        manifest = Manifest(str(data["layout"]), str(data["dataset"]))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"{path} is not a manifest written by mediconfusion fetch-images ({exc})") from exc
    manifest.images = {record.local_id: record for record in records}
    return manifest


@dataclass(frozen=True)
class VerifyProblem:
    record: ImageRecord
    problem: str


def verify(folder: Path, manifest: Manifest) -> list[VerifyProblem]:
    """Each image's file exists, still has the recorded sha256 and decodes.

    An image the manifest lists as missing passes when a file that decodes has
    since been put in its place by hand.
    """
    problems = []
    for record in manifest.images.values():
        path = folder / record.path
        try:
            data = path.read_bytes()
        except OSError:
            problems.append(VerifyProblem(record, f"{record.path} is missing"))
            continue
        if record.status == PRESENT and record.sha256 is not None and sha256(data) != record.sha256:
            problems.append(VerifyProblem(record, f"{record.path} changed since it was fetched (sha256 differs)"))
        elif (why := decode_problem(data)) is not None:
            problems.append(VerifyProblem(record, f"{record.path} does not decode ({why})"))
    return problems
