"""Read dataset.json / dataset.csv into (pair id, record) rows, with file and line in every error."""

from __future__ import annotations

import ast
import csv
import io
import json
from typing import TYPE_CHECKING, Any

from mediconfusion_tests import strict_json
from mediconfusion_tests.data.schema import Pair, parse_records
from mediconfusion_tests.errors import DataError

if TYPE_CHECKING:
    from pathlib import Path

DATASET_FILES = ("dataset.json", "dataset.csv")
_CSV_LIST_FIELDS = ("category_1", "category_2")
_CSV_INT_FIELDS = ("im_1_local", "im_2_local")
_CSV_FLOAT_FIELDS = ("BiomedCLIP_sim", "DINO_sim")


class _DuplicateKeys(Exception):
    def __init__(self, keys: list[str]) -> None:
        self.keys = keys


def _no_duplicates(items: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in items]
    duplicates = sorted({k for k in keys if keys.count(k) > 1})
    if duplicates:
        raise _DuplicateKeys(duplicates)
    return dict(items)


def read_json_rows(path: Path) -> list[tuple[str, object]]:
    text = _utf8_text(path)
    try:
        # Duplicate ids only matter at the top level; nested objects may repeat keys harmlessly.
        data = strict_json.loads_fields(text)
        top = strict_json.loads_fields(text, object_pairs_hook=lambda items: items)
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: line {exc.lineno}, column {exc.colno}: invalid JSON ({exc.msg})") from exc
    except RecursionError:
        raise DataError(f"{path}: the JSON is nested too deeply to be a dataset") from None
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a JSON object keyed by pair id, got {type(data).__name__}")
    try:
        _no_duplicates([(str(k), v) for k, v in top])
    except _DuplicateKeys as exc:
        raise DataError(f"{path}: duplicate pair id(s): {', '.join(exc.keys)}") from None
    return [(str(key), value) for key, value in data.items()]


def _csv_value(name: str, raw: str, where: str) -> object:
    if name in _CSV_LIST_FIELDS:
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            raise DataError(f"{where}: field {name!r} is not a Python-literal list: {raw!r}") from None
        return list(value) if isinstance(value, (list, tuple)) else value
    if name in _CSV_INT_FIELDS:
        text = raw.strip()
        return int(text) if text.isascii() and text.isdigit() and len(text) <= strict_json.MAX_INTEGER_DIGITS else raw
    if name in _CSV_FLOAT_FIELDS:
        try:
            return float(raw)
        except ValueError:
            return raw
    return raw


def _utf8_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read the dataset file ({exc})") from exc
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DataError(
            f"{path}: line {line}: not UTF-8 text (byte {data[exc.start : exc.start + 1]!r}); save the file as UTF-8"
        ) from None


def read_csv_rows(path: Path) -> list[tuple[str, object]]:
    rows: list[tuple[str, object]] = []
    reader = csv.DictReader(io.StringIO(_utf8_text(path), newline=""))
    if reader.fieldnames is None or "id" not in reader.fieldnames:
        raise DataError(f"{path}: line 1: the CSV header has no 'id' column")
    try:
        for row in reader:
            where = f"{path}: line {reader.line_num}"
            if None in row:
                raise DataError(f"{where}: more values than header columns")
            record = {k: _csv_value(k, v or "", where) for k, v in row.items() if k and k != "id"}
            rows.append(((row.get("id") or "").strip(), record))
    except csv.Error as exc:
        raise DataError(f"{path}: line {reader.line_num}: malformed CSV ({exc})") from exc
    return rows


def find_dataset_file(location: Path) -> Path:
    """The dataset file itself, or the dataset.json / dataset.csv inside a folder."""
    if location.is_dir():
        for name in DATASET_FILES:
            if (location / name).is_file():
                return location / name
        raise DataError(f"{location}: the folder holds neither {' nor '.join(DATASET_FILES)}")
    if location.is_file():
        if location.suffix.lower() not in (".json", ".csv"):
            raise DataError(f"{location}: a dataset file must end in .json or .csv")
        return location
    raise DataError(f"{location}: no such dataset file or folder")


def read_pairs(path: Path, warnings: list[str] | None = None) -> list[Pair]:
    rows = read_csv_rows(path) if path.suffix.lower() == ".csv" else read_json_rows(path)
    return parse_records(rows, str(path), warnings)
