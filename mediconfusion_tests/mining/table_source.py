"""Captioned images from a ``datasets`` table: ``hf:ORG/NAME[@REVISION][:SPLIT]``, a save_to_disk folder or
parquet, as ``--dataset`` reads pair tables (data/pair_tables.py).

The image column holds embedded images (``datasets.Image``, ``{bytes, path}``) or paths (relative to the
table's folder, or files of the hub snapshot); the text column the caption or report. Each image's bytes are
written once, unchanged, under the cache (named by their sha256), where the miner reads them like any file.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mediconfusion_tests.data.pair_tables import (
    decodes,
    image_bytes,
    image_files,
    load_table,
    parse_table_source,
    undecoded,
)
from mediconfusion_tests.data.schema import RecordProblems
from mediconfusion_tests.errors import DataError
from mediconfusion_tests.mining.sources import CaptionedImage

if TYPE_CHECKING:
    from pathlib import Path


@dataclass(frozen=True)
class Columns:
    image: str = "image"
    text: str = "text"
    id: str = "id"
    source: str = "source"
    category: str = "category"


def is_table(source: str) -> bool:
    return parse_table_source(source) is not None


def read_table(source: str, folder: Path, columns: Columns = Columns()) -> list[CaptionedImage]:
    where_from = parse_table_source(source)
    if where_from is None:
        raise DataError(f"{source}: not a table (hf:ORG/NAME, a save_to_disk folder or parquet)")
    table, facts = load_table(where_from)
    missing = [c for c in (columns.image, columns.text) if c not in table.column_names]
    if missing:
        raise DataError(
            f"{where_from.label}: no column {', '.join(repr(c) for c in missing)} (it has "
            f"{', '.join(table.column_names)}); name them with --image-column / --text-column"
        )
    table = undecoded(table, [columns.image])
    files = image_files(where_from)
    problems = RecordProblems(where_from.label)
    target = folder / str(facts["fingerprint"])
    target.mkdir(parents=True, exist_ok=True)
    items: list[CaptionedImage] = []
    seen: set[str] = set()
    for number, row in enumerate(table, start=1):
        where = f"row {number}"
        value = row.get(columns.image)
        if value is None:
            problems.add(where, f"column {columns.image!r} is empty")
            continue
        data = image_bytes(value, files, f"{where}, column {columns.image!r}", problems)
        if data is None or not decodes(data, f"{where}, column {columns.image!r}", problems):
            continue
        text = str(row.get(columns.text) or "").strip()
        if not text:
            problems.add(where, f"column {columns.text!r} is empty")
        ident = str(row.get(columns.id) or "").strip() or str(number)
        if ident in seen:
            problems.add(where, f"id {ident!r} repeats")
        seen.add(ident)
        path = target / hashlib.sha256(data).hexdigest()
        if not path.is_file():
            path.write_bytes(data)
        source_id = str(row.get(columns.source) or "").strip() or None
        category = str(row.get(columns.category) or "").strip() or None
        items.append(CaptionedImage(ident, path, text, source_id, category))
    problems.raise_if_any()
    if len(items) < 2:
        raise DataError(f"{where_from.label}: {len(items)} image(s); mining pairs needs at least two")
    return items
