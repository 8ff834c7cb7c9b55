"""Captioned images to mine: a captions file (CSV or JSONL), a folder holding one, or a MediConfusion-style
dataset.json.

A captions file has the columns ``image`` (a path relative to the file, or absolute) and ``text`` (the
caption or report), and optionally ``id``, ``source`` (the article or study the image comes from: two images
of one source are never paired) and ``category``. Every image is checked as the suite checks benchmark
images (a regular file, not too large, decodes); all problems are listed at once, naming line and column.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mediconfusion_tests.data.files import find_dataset_file, read_pairs
from mediconfusion_tests.data.image_files import ImageReferenceError, local_files
from mediconfusion_tests.data.images import detect_layout, distinct_images, image_problem
from mediconfusion_tests.data.schema import RecordProblems
from mediconfusion_tests.errors import DataError

if TYPE_CHECKING:
    from pathlib import Path

CAPTION_FILES = ("captions.csv", "captions.jsonl")
#: Other names people give the columns.
ALIASES = {"path": "image", "file": "image", "image_path": "image", "caption": "text", "report": "text"}


@dataclass(frozen=True)
class CaptionedImage:
    id: str
    path: Path
    text: str
    source: str | None = None
    category: str | None = None


def read_captioned(location: Path, images: Path | None = None) -> list[CaptionedImage]:
    """The images and texts at ``location`` (see the module docstring); ``images`` is the image folder of a
    dataset.json (default: ``images/`` beside it)."""
    if location.is_dir():
        found = [location / name for name in CAPTION_FILES if (location / name).is_file()]
        if len(found) == 1:
            return _read_file(found[0])
        if not found and any((location / n).is_file() for n in ("dataset.json", "dataset.csv")):
            return _from_dataset(find_dataset_file(location), images)
        raise DataError(
            f"{location}: expected one of {', '.join(CAPTION_FILES)} (columns image, text; optional id, source, "
            "category) or a dataset.json" + (f"; found {len(found)}" if found else "")
        )
    if not location.is_file():
        raise DataError(f"{location}: no such file or folder")
    if location.name in ("dataset.json", "dataset.csv"):
        return _from_dataset(location, images)
    return _read_file(location)


def _read_file(path: Path) -> list[CaptionedImage]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot be read ({exc})") from None
    if path.suffix.lower() == ".jsonl":
        rows = _jsonl_rows(path, text)
    elif path.suffix.lower() == ".csv":
        rows = _csv_rows(path, text)
    else:
        raise DataError(f"{path}: a captions file is .csv or .jsonl")
    problems = RecordProblems(str(path))
    files = local_files(path.parent)
    items: list[CaptionedImage] = []
    seen: dict[str, str] = {}
    for where, row in rows:
        image, caption = row.get("image", "").strip(), row.get("text", "").strip()
        if not image:
            problems.add(where, "column 'image' is empty")
            continue
        if not caption:
            problems.add(where, "column 'text' is empty")
        ident = row.get("id", "").strip() or image
        if ident in seen:
            problems.add(where, f"id {ident!r} repeats {seen[ident]}")
        seen.setdefault(ident, where)
        try:
            file = files(image)
        except ImageReferenceError as exc:
            problems.add(where, f"column 'image': {exc}")
            continue
        problem = image_problem(file)
        if problem is not None:
            problems.add(where, f"column 'image': {file} {problem}")
            continue
        items.append(
            CaptionedImage(
                ident, file, caption, row.get("source", "").strip() or None, row.get("category", "").strip() or None
            )
        )
    problems.raise_if_any()
    if len(items) < 2:
        raise DataError(f"{path}: {len(items)} image(s); mining pairs needs at least two")
    return items


def _csv_rows(path: Path, text: str) -> list[tuple[str, dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(text))
    names = [ALIASES.get(n.strip().lower(), n.strip().lower()) for n in reader.fieldnames or ()]
    missing = [c for c in ("image", "text") if c not in names]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)} (found {', '.join(names) or 'none'})")
    rows = []
    for number, raw in enumerate(reader, start=2):  # line 1 is the header
        rows.append(
            (
                f"line {number}",
                {ALIASES.get(k.strip().lower(), k.strip().lower()): v or "" for k, v in raw.items() if k},
            )
        )
    return rows


def _jsonl_rows(path: Path, text: str) -> list[tuple[str, dict[str, str]]]:
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as exc:
            raise DataError(f"{path}: line {number} is not JSON ({exc})") from None
        if not isinstance(record, dict):
            raise DataError(f"{path}: line {number} is a JSON {type(record).__name__}, expected an object")
        rows.append(
            (
                f"line {number}",
                {ALIASES.get(k.lower(), k.lower()): "" if v is None else str(v) for k, v in record.items()},
            )
        )
    return rows


def _from_dataset(path: Path, images: Path | None) -> list[CaptionedImage]:
    """Each benchmark image once, its text the question with the option that is true for it."""
    pairs = read_pairs(path)
    refs = distinct_images(pairs)
    folder = images or path.parent / "images"
    layout = detect_layout(folder, refs)
    texts: dict[int, str] = {}
    categories: dict[int, str] = {}
    for pair in pairs:
        for index, ref in enumerate(pair.images):
            option = pair.options[0 if pair.truth[index] == "A" else 1]
            texts.setdefault(ref.local_id, f"{pair.question} {option}")
            categories.setdefault(ref.local_id, "; ".join(pair.categories[index]))
    problems = RecordProblems(str(path))
    items = []
    for ref in refs:
        file = layout.path(ref)
        problem = image_problem(file)
        if problem is not None:
            problems.add(f"image {ref.label}", f"{file} {problem}")
            continue
        items.append(
            CaptionedImage(str(ref.local_id), file, texts[ref.local_id], None, categories[ref.local_id] or None)
        )
    problems.raise_if_any()
    return items
