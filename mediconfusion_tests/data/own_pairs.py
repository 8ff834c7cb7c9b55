"""Your own confusing pairs: the record schema, ``validate-pairs`` and ``make-pairs``.

The schema is dataset.json's (one object per pair), written as a table row: the same fields, the
pair id in ``id``, categories as free text, the ``AI_*`` paraphrases optional (the probes use them),
and the two images either referenced (``im_*`` and ``im_*_local``) or embedded (``image_1``/``image_2``).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from mediconfusion_tests.data.files import read_pairs
from mediconfusion_tests.data.image_files import ImageReferenceError, local_files, read_image_file
from mediconfusion_tests.data.pair_tables import parse_table_source, read_rows, require_datasets
from mediconfusion_tests.data.schema import RecordProblems
from mediconfusion_tests.errors import DataError

_TEXT = {"type": "string", "minLength": 1, "pattern": r"\S"}
_CATEGORIES = {
    "description": "free-text category names (a single string is one category)",
    "oneOf": [{"type": "array", "items": _TEXT, "minItems": 1}, _TEXT],
}
_LETTER = {"enum": ["A", "B"]}
_EMBEDDED = {
    "description": "an embedded image: datasets.Image, or a struct of bytes and/or a path",
    "type": "object",
    "properties": {"bytes": {"type": ["string", "null"]}, "path": {"type": ["string", "null"]}},
}
PAIR_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://mediconfusion-tests/pairs.schema.json",
    "title": "A confusing pair (one row of a pair table, one value of dataset.json)",
    "description": "Two images, one question, two options; the right option differs between the images. "
    "Images are referenced (im_1/im_2 paths with integer local ids, files from --images) or embedded "
    "(image_1/image_2).",
    "type": "object",
    "properties": {
        "id": {"description": "the pair id (tables; dataset.json uses its keys); default: the row number"},
        "question": _TEXT,
        "option_A": _TEXT,
        "option_B": _TEXT,
        "im_1_correct": _LETTER,
        "im_2_correct": _LETTER,
        "category_1": _CATEGORIES,
        "category_2": _CATEGORIES,
        "im_1": {**_TEXT, "description": "image 1's path (ROCO path in MediConfusion)"},
        "im_2": {**_TEXT, "description": "image 2's path"},
        "im_1_local": {"type": "integer", "minimum": 0, "description": "image 1's file: {--images}/{id}.jpg"},
        "im_2_local": {"type": "integer", "minimum": 0},
        "image_1": _EMBEDDED,
        "image_2": _EMBEDDED,
        "AI_question": {**_TEXT, "description": "a paraphrase of the question (--probes paraphrase)"},
        "AI_option_A": _TEXT,
        "AI_option_B": _TEXT,
        "cap_1": {"type": "string"},
        "cap_2": {"type": "string"},
        "BiomedCLIP_sim": {"type": "number"},
        "DINO_sim": {"type": "number"},
    },
    "required": ["question", "option_A", "option_B", "im_1_correct", "im_2_correct", "category_1", "category_2"],
    "anyOf": [
        {"required": ["image_1", "image_2"]},
        {"required": ["im_1", "im_2", "im_1_local", "im_2_local"]},
    ],
    "not": {
        "description": "a confusing pair has a different right answer for each image",
        "anyOf": [
            {"properties": {"im_1_correct": {"const": letter}, "im_2_correct": {"const": letter}}}
            for letter in ("A", "B")
        ],
    },
}


def validate_pairs(source: str, revision: str | None = None) -> tuple[int, list[str]]:
    """(pairs that passed, every problem found): a table (hf:, save_to_disk, parquet) or dataset.json/csv."""
    table = parse_table_source(source, revision)
    if table is None:
        from mediconfusion_tests.data.files import find_dataset_file

        try:
            pairs = read_pairs(find_dataset_file(Path(source).expanduser()))
        except DataError as exc:
            return 0, str(exc).splitlines()[1:] or [str(exc)]
        return len(pairs), []
    from mediconfusion_tests.data.pair_tables import image_files, load_table

    loaded, _ = load_table(table)
    rows = read_rows(loaded, f"--dataset={table.label}", image_files(table))
    return len(rows.records), list(rows.problems.problems)


#: make-pairs' CSV columns (also accepted: option_A/option_B, im_1_correct/im_2_correct, id).
CSV_COLUMNS = ("image_1", "image_2", "question", "option_a", "option_b", "answer_1", "answer_2", "categories")
_ALIASES = {"option_A": "option_a", "option_B": "option_b", "im_1_correct": "answer_1", "im_2_correct": "answer_2"}


def _categories(text: str) -> list[str]:
    """'Lung; Vascular' or 'Lung' (free text; ';' or '|' separate several)."""
    parts = [p.strip() for chunk in text.split("|") for p in chunk.split(";")]
    return [p for p in parts if p]


def rows_from_csv(path: Path) -> tuple[list[dict[str, Any]], RecordProblems]:
    """The CSV's rows as pair-table rows (images embedded as bytes), with every problem collected."""
    problems = RecordProblems(str(path))
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read the CSV ({exc})") from None
    reader = csv.DictReader(io.StringIO(text))
    files = local_files(path.parent)
    names = [_ALIASES.get(n.strip(), n.strip()) for n in reader.fieldnames or ()]
    missing = [c for c in CSV_COLUMNS if c not in names]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)} (expected {', '.join(CSV_COLUMNS)})")
    rows: list[dict[str, Any]] = []
    for number, raw in enumerate(reader, start=2):  # line 1 is the header
        row = {_ALIASES.get(k.strip(), k.strip()): (v or "").strip() for k, v in raw.items() if k}
        where = f"line {number}"
        out: dict[str, Any] = {
            "id": row.get("id") or str(number - 1),
            "question": row["question"],
            "option_A": row["option_a"],
            "option_B": row["option_b"],
            "im_1_correct": row["answer_1"].upper(),
            "im_2_correct": row["answer_2"].upper(),
            "category_1": _categories(row["categories"]),
            "category_2": _categories(row.get("categories_2") or row["categories"]),
        }
        for column in ("image_1", "image_2"):
            try:
                file = files(row[column])
                # Bytes alone: given a path too, datasets keeps the path instead of the bytes whenever a file of
                # that name is in the working directory (make-pairs run from the image folder).
                out[column] = read_image_file(file)
            except ImageReferenceError as exc:
                problems.add(where, f"column {column!r}: {exc}")
                out[column] = None
        rows.append(out)
    return rows, problems


def pair_features(*texts: str) -> Any:
    """``datasets.Features`` of a pair table with embedded images, plus optional text columns (``AI_question``...)."""
    datasets = require_datasets()
    text = datasets.Value("string")
    names = ("id", "question", "option_A", "option_B", "im_1_correct", "im_2_correct", *texts)
    return datasets.Features(
        {
            **dict.fromkeys(names, text),
            "category_1": datasets.List(text),
            "category_2": datasets.List(text),
            "image_1": datasets.Image(),
            "image_2": datasets.Image(),
        }
    )


def make_pairs(
    csv_path: Path, output: Path | None, push_to: str | None, private: bool, split: str = "test"
) -> tuple[int, str]:
    """Build the table from the CSV, check it as a run would (answers differ, images decode), then write it
    with save_to_disk and/or push it. Returns (pairs, where)."""
    datasets = require_datasets()
    rows, problems = rows_from_csv(csv_path)
    table = datasets.Dataset.from_list(rows, features=pair_features())
    checked = read_rows(table, str(csv_path))
    problems.problems += checked.problems.problems
    problems.raise_if_any()
    where = []
    if output is not None:
        datasets.DatasetDict({split: table}).save_to_disk(str(output))
        where.append(str(output))
    if push_to is not None:
        datasets.DatasetDict({split: table}).push_to_hub(push_to, private=private)
        where.append(f"hf:{push_to}")
    return len(table), " and ".join(where)
