"""Where the pair records come from: the hub (default), a local path, or our sample."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

from mediconfusion_tests.data.files import find_dataset_file, read_pairs
from mediconfusion_tests.data.hub import HUB_REPO, download_dataset_file
from mediconfusion_tests.data.pair_tables import materialize, parse_table_source
from mediconfusion_tests.records import Record

if TYPE_CHECKING:
    from mediconfusion_tests.data.schema import Pair

HUB = "hub"
SAMPLE = "sample"


class DatasetInfo(Record):
    """Enough to reproduce which records a run used."""

    source: str
    file: str
    sha256: str
    repo: str | None = None
    requested_revision: str | None = None
    revision: str | None = None
    images: str | None = None
    #: Tables (hf:ORG/NAME, save_to_disk folders, parquet): what the user named, the split, the
    #: table's fingerprint, and whether its images were embedded (then ``images`` is their cache folder).
    origin: str | None = None
    split: str | None = None
    fingerprint: str | None = None
    embedded: bool = False


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def resolve_dataset(source: str, revision: str | None = None) -> DatasetInfo:
    """Locate (and for the hub, download) the dataset file without parsing it."""
    if source == HUB:
        path, commit = download_dataset_file(revision)
        return DatasetInfo(
            source=HUB,
            file=str(path),
            sha256=_sha256(path),
            repo=HUB_REPO,
            requested_revision=revision or "main",
            revision=commit,
        )
    if source == SAMPLE:
        from mediconfusion_tests.sample.benchmark import sample_folder

        folder = sample_folder()
        path = folder / "dataset.json"
        return DatasetInfo(source=SAMPLE, file=str(path), sha256=_sha256(path), images=str(folder / "images"))
    table = parse_table_source(source, revision)
    if table is not None:
        from mediconfusion_tests.sample.build_cache import cache_root

        folder, facts = materialize(table, cache_root())
        path = folder / "dataset.json"
        return DatasetInfo(
            source="hf-dataset" if table.kind == "hub" else "table",
            file=str(path),
            sha256=_sha256(path),
            repo=table.location if table.kind == "hub" else None,
            requested_revision=table.revision if table.kind == "hub" else None,
            revision=facts.get("revision"),
            images=str(folder / "images") if facts["embedded"] else None,
            origin=table.label,
            split=facts.get("split"),
            fingerprint=facts.get("fingerprint"),
            embedded=bool(facts["embedded"]),
        )
    path = find_dataset_file(Path(source).expanduser())
    return DatasetInfo(source="path", file=str(path.resolve()), sha256=_sha256(path))


def load_pairs(info: DatasetInfo, warnings: list[str] | None = None) -> list[Pair]:
    return read_pairs(Path(info.file), warnings)
