"""dataset.json and dataset.csv read and checked: every problem named with its pair and field."""

from __future__ import annotations

import csv
from typing import TYPE_CHECKING

import pytest
from helpers import write_json

from mediconfusion_tests.data.files import find_dataset_file, read_pairs
from mediconfusion_tests.data.images import distinct_images
from mediconfusion_tests.data.schema import REQUIRED_FIELDS
from mediconfusion_tests.errors import DataError

if TYPE_CHECKING:
    from pathlib import Path


def test_real_json_and_csv_give_the_same_pairs(shared_dir: Path) -> None:
    from_json = read_pairs(shared_dir / "dataset.json")
    from_csv = read_pairs(shared_dir / "dataset.csv")
    assert len(from_json) == 176
    assert len(distinct_images(from_json)) == 228
    assert len({c for p in from_json for c in p.all_categories}) == 9
    assert [p.id for p in from_json] == [p.id for p in from_csv]
    assert from_json == from_csv


def test_folder_resolves_to_json_before_csv(tmp_path: Path, shared_dir: Path) -> None:
    (tmp_path / "dataset.csv").write_text((shared_dir / "dataset.csv").read_text())
    assert find_dataset_file(tmp_path).name == "dataset.csv"
    (tmp_path / "dataset.json").write_text((shared_dir / "dataset.json").read_text())
    assert find_dataset_file(tmp_path).name == "dataset.json"


def test_empty_folder_names_the_files_it_wants(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"neither dataset\.json nor dataset\.csv"):
        find_dataset_file(tmp_path)
    with pytest.raises(DataError, match="no such dataset file"):
        find_dataset_file(tmp_path / "missing")


def test_invalid_json_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "dataset.json"
    path.write_text('{\n  "1": {\n    "im_1": "x",,\n  }\n}')
    with pytest.raises(DataError, match=r"dataset.json: line 3, column 17: invalid JSON"):
        read_pairs(path)


def test_duplicate_ids_in_json_are_an_error(tmp_path: Path) -> None:
    path = tmp_path / "dataset.json"
    path.write_text('{"7": {}, "8": {}, "7": {}}')
    with pytest.raises(DataError, match="duplicate pair id"):
        read_pairs(path)


def test_duplicate_ids_and_bad_lists_in_csv(shared_dir: Path, tmp_path: Path) -> None:
    rows = list(csv.reader((shared_dir / "dataset.csv").open()))
    header, body = rows[0], rows[1:4]
    body.append(list(body[0]))  # same id again
    path = tmp_path / "dataset.csv"
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows([header, *body])
    with pytest.raises(DataError, match=f"pair {body[0][1]}: duplicate pair id"):
        read_pairs(path)
    body = [list(r) for r in rows[1:3]]
    body[1][header.index("category_2")] = "['Cerebral'"
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows([header, *body])
    with pytest.raises(DataError, match=r"dataset.csv: line 3: field 'category_2' is not a Python-literal list"):
        read_pairs(path)


def test_csv_without_id_column(tmp_path: Path) -> None:
    path = tmp_path / "dataset.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match="line 1: the CSV header has no 'id' column"):
        read_pairs(path)


def test_non_object_record_and_top_level(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="pair 1: record must be an object"):
        read_pairs(write_json(tmp_path / "a.json", {"1": [1, 2]}))
    with pytest.raises(DataError, match="expected a JSON object keyed by pair id, got list"):
        read_pairs(write_json(tmp_path / "b.json", []))


def test_required_fields_are_the_documented_ones() -> None:
    assert set(REQUIRED_FIELDS) == {
        "im_1",
        "im_2",
        "im_1_local",
        "im_2_local",
        "category_1",
        "category_2",
        "question",
        "option_A",
        "option_B",
        "im_1_correct",
        "im_2_correct",
    }
