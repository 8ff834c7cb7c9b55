"""Pair datasets as tables, through ``datasets``: a hub dataset, a ``save_to_disk`` folder, parquet files.

A table holds the fields of dataset.json (docs/pairs.schema.json), one row per pair, with the pair id
in ``id`` (or ``pair_id``; else the row number). Images are either referenced, as in MediConfusion
(``im_1``/``im_2`` and the local ids ``im_1_local``/``im_2_local``, files from ``--images``), or
embedded in ``image_1``/``image_2`` columns (``datasets.Image``, or structs of ``bytes`` and
``path``). Rows are checked here, with the row number and field in every message; embedded images
must decode. The table is then written once, keyed by its fingerprint, into the cache as a
dataset.json plus an images folder (``{local id}.jpg``: the original bytes, unchanged, whatever their
format; PIL reads files by content), which the rest of the run reads like any dataset folder. Embedded
images stay in that local cache; they reach reports only as the user asks (``--no-images-in-report``).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from mediconfusion_tests.data.image_files import ImageReferenceError, hub_files, local_files, read_image_file
from mediconfusion_tests.data.schema import RecordProblems, parse_record
from mediconfusion_tests.errors import DataError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    ImageFiles = Callable[[str], Path]

HF_PREFIX = "hf:"
IMAGE_COLUMNS = ("image_1", "image_2")
ID_COLUMNS = ("id", "pair_id")
#: Bumped when the written form changes, so older cached tables are written again.
TABLE_FORMAT = 1


@dataclass(frozen=True)
class TableSource:
    """Where a table comes from: kind "hub" (repo, revision, split), "disk" or "parquet" (path)."""

    kind: str
    location: str
    revision: str | None = None
    split: str | None = None

    @property
    def label(self) -> str:
        if self.kind != "hub":
            return self.location
        return self.location + (f"@{self.revision}" if self.revision else "") + (f":{self.split}" if self.split else "")


def parse_table_source(source: str, revision: str | None = None) -> TableSource | None:
    """``hf:ORG/NAME[@REVISION][:SPLIT]``, a save_to_disk folder, or parquet file(s); None for anything else."""
    if source.startswith(HF_PREFIX):
        body = source[len(HF_PREFIX) :]
        name, _, split = body.partition(":")
        repo, _, pinned = name.partition("@")
        if repo.count("/") != 1 or not all(repo.split("/")):
            raise DataError(f"--dataset={source}: expected hf:ORG/NAME[@REVISION][:SPLIT]")
        return TableSource("hub", repo, pinned or revision, split or None)
    path = Path(source).expanduser()
    if path.is_file() and path.suffix == ".parquet":
        return TableSource("parquet", str(path.resolve()))
    if path.is_dir():
        if (path / "state.json").is_file() or (path / "dataset_dict.json").is_file():
            return TableSource("disk", str(path.resolve()))
        holds_json = any((path / name).is_file() for name in ("dataset.json", "dataset.csv"))
        if not holds_json and any(path.glob("*.parquet")):
            return TableSource("parquet", str(path.resolve()))
    return None


def require_datasets() -> Any:
    try:
        import datasets
    except ImportError as exc:
        raise DataError(
            f"pair datasets as tables need the datasets package: pip install datasets (in the pairs extra) ({exc})"
        ) from None
    datasets.disable_progress_bars()
    datasets.logging.set_verbosity_error()
    return datasets


def _pick_split(loaded: Any, wanted: str | None, label: str) -> tuple[Any, str | None]:
    datasets = require_datasets()
    if isinstance(loaded, datasets.Dataset):
        return loaded, wanted
    names = list(loaded)
    if wanted is None:
        wanted = "test" if "test" in names else names[0]
    if wanted not in names:
        raise DataError(f"{label}: no split {wanted!r}; it has {', '.join(names)}")
    return loaded[wanted], wanted


def _hub_commit(repo: str, revision: str | None) -> str | None:
    """The commit a hub revision points at (None offline: the requested revision is still recorded)."""
    try:
        from huggingface_hub import HfApi

        info = HfApi().dataset_info(repo, revision=revision, timeout=5)
    except Exception:  # noqa: BLE001 - offline or unknown: the load itself reports real problems
        return None
    sha: str | None = info.sha
    return sha


def _files_digest(paths: Iterable[Path]) -> str:
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(path.name.encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:16]


def load_table(source: TableSource) -> tuple[Any, dict[str, Any]]:
    """The table and its provenance: revision (hub commit), split, fingerprint."""
    datasets = require_datasets()
    facts: dict[str, Any] = {"split": source.split, "revision": None}
    try:
        if source.kind == "hub":
            loaded = datasets.load_dataset(source.location, revision=source.revision, token=os.environ.get("HF_TOKEN"))
            table, facts["split"] = _pick_split(loaded, source.split, source.label)
            facts["revision"] = _hub_commit(source.location, source.revision)
            facts["fingerprint"] = str(table._fingerprint)
        elif source.kind == "disk":
            loaded = datasets.load_from_disk(source.location)
            table, facts["split"] = _pick_split(loaded, source.split, source.label)
            facts["fingerprint"] = str(table._fingerprint)
        else:
            path = Path(source.location)
            files = [path] if path.is_file() else sorted(path.glob("*.parquet"))
            table = datasets.load_dataset("parquet", data_files=[str(f) for f in files], split="train")
            facts["fingerprint"] = _files_digest(files)
    except DataError:
        raise
    except Exception as exc:  # noqa: BLE001 - datasets raises many types; the user needs the source and reason
        raise DataError(f"--dataset={source.label}: cannot load the table ({type(exc).__name__}: {exc})") from None
    return table, facts


def undecoded(table: Any, columns: Sequence[str] = IMAGE_COLUMNS) -> Any:
    """The table with its image columns read as stored (bytes or path), not decoded by datasets."""
    datasets = require_datasets()
    for column in columns:
        if column in table.column_names and isinstance(table.features[column], datasets.Image):
            table = table.cast_column(column, datasets.Image(decode=False))
    return table


def image_bytes(value: Any, files: ImageFiles | None, where: str, problems: RecordProblems) -> bytes | None:
    """An image cell's bytes (embedded, or the file a path names), or None after adding the problem."""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, str):
        value = {"path": value}
    if not isinstance(value, dict):
        problems.add(where, f"expected image bytes, a path or a {{bytes, path}} struct, got {type(value).__name__}")
        return None
    if value.get("bytes"):
        return bytes(value["bytes"])
    path = value.get("path")
    if not path or not isinstance(path, str):
        problems.add(where, "holds neither image bytes nor a path")
        return None
    if files is None:
        problems.add(where, f"references the file {path!r}, but this table's images must be embedded")
        return None
    try:
        return read_image_file(files(path))
    except ImageReferenceError as exc:
        problems.add(where, str(exc))
        return None


def decodes(data: bytes, where: str, problems: RecordProblems) -> bool:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
    except UnidentifiedImageError:
        problems.add(where, "the image does not decode (not an image format PIL reads)")
        return False
    except Exception as exc:  # noqa: BLE001 - PIL raises many types for damaged files
        problems.add(where, f"the image does not decode ({type(exc).__name__}: {exc})")
        return False
    return True


@dataclass
class TableRows:
    """Checked records, keyed by pair id, and the embedded images by local id."""

    records: dict[str, dict[str, Any]]
    images: dict[int, bytes]
    problems: RecordProblems


def read_rows(table: Any, label: str, files: ImageFiles | None = None) -> TableRows:
    """Every row checked (all problems collected, row number and field named); images decoded once.
    ``files`` resolves the image paths a row references (data/image_files.py says where they may point)."""
    table = undecoded(table)
    problems = RecordProblems(label)
    records: dict[str, dict[str, Any]] = {}
    images: dict[int, bytes] = {}
    local_ids: dict[str, int] = {}
    embedded = [c for c in IMAGE_COLUMNS if c in table.column_names]
    if embedded and len(embedded) != len(IMAGE_COLUMNS):
        problems.add("table", f"has {embedded[0]!r} but not the other image column; embed both or neither")
    id_column = next((c for c in ID_COLUMNS if c in table.column_names), None)
    for number, row in enumerate(table, start=1):
        raw_id = row.get(id_column) if id_column else number
        pair_id = str(raw_id).strip() if raw_id is not None else ""
        where = f"row {number}" + (f" (pair {pair_id})" if id_column and pair_id else "")
        if not pair_id:
            problems.add(where, f"field {id_column!r} is empty")
            continue
        if pair_id in records:
            problems.add(where, f"duplicate pair id {pair_id!r}")
            continue
        record = {k: v for k, v in row.items() if k not in (*IMAGE_COLUMNS, *ID_COLUMNS)}
        before = len(problems.problems)
        for index, column in enumerate(IMAGE_COLUMNS, start=1):
            if column not in embedded:
                continue
            at = f"{where}, field {column!r}"
            value = row.get(column)
            data = None if value is None else image_bytes(value, files, at, problems)
            if value is None:
                problems.add(at, "is empty")
            if data is None or not decodes(data, at, problems):
                continue
            digest = hashlib.sha256(data).hexdigest()
            local = local_ids.setdefault(digest, len(local_ids) + 1)
            images[local] = data
            path = value.get("path") if isinstance(value, dict) else None
            # A label only (the bytes are embedded): the file's name, never where it lay.
            name = PurePosixPath(str(path).replace("\\", "/")).name if path else ""
            record.setdefault(f"im_{index}", name or f"embedded:{digest[:16]}")
            record.setdefault(f"im_{index}_local", local)
        for name in ("category_1", "category_2"):
            # Free text: one category may be given as a plain string.
            if isinstance(record.get(name), str):
                record[name] = [record[name]]
        if len(problems.problems) > before:
            continue  # an image of this row is unusable; its fields would only repeat that
        if parse_record(pair_id, record, problems, where=where) is not None:
            records[pair_id] = record
    if not records and not problems.problems:
        problems.add("table", "holds no pair rows")
    return TableRows(records, images, problems)


def image_files(source: TableSource) -> ImageFiles:
    """Where this table's image references may point: its snapshot (hub) or its own folder (local)."""
    if source.kind == "hub":
        return hub_files(source.location, source.revision)
    location = Path(source.location)
    return local_files(location.parent if location.is_file() else location)


def materialize(source: TableSource, cache: Path) -> tuple[Path, dict[str, Any]]:
    """The table as a dataset folder in the cache (dataset.json, images/); built once per fingerprint."""
    from mediconfusion_tests.sample.build_cache import build_once

    table, facts = load_table(source)
    key = hashlib.sha256(
        json.dumps([TABLE_FORMAT, source.kind, source.location, facts.get("split"), facts["fingerprint"]]).encode()
    ).hexdigest()[:20]

    def build(folder: Path) -> None:
        rows = read_rows(table, f"--dataset={source.label}", image_files(source))
        rows.problems.raise_if_any()
        (folder / "dataset.json").write_text(json.dumps(rows.records, ensure_ascii=False, indent=1), encoding="utf-8")
        if rows.images:
            (folder / "images").mkdir()
            for local, data in rows.images.items():
                (folder / "images" / f"{local}.jpg").write_bytes(data)

    folder = build_once(cache / "pair-tables" / key, build)
    facts["embedded"] = (folder / "images").is_dir()
    return folder, facts
