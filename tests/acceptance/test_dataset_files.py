"""Every problem of the sample's dataset.json records listed at once, with its pair and field."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest
from helpers import write_json

from mediconfusion_tests.data.files import read_pairs
from mediconfusion_tests.errors import DataError

if TYPE_CHECKING:
    from pathlib import Path


def test_every_record_problem_is_listed_with_pair_and_field(sample_dir: Path, tmp_path: Path) -> None:
    records = dict(list(json.loads((sample_dir / "dataset.json").read_text()).items())[:4])
    first, second, third, _ = records
    del records[first]["question"]
    records[second]["im_2_correct"] = "C"
    records[third]["category_1"] = []
    with pytest.raises(DataError) as info:
        read_pairs(write_json(tmp_path / "dataset.json", records))
    message = str(info.value)
    assert "3 problem(s)" in message
    assert f"pair {first}: missing field(s) 'question'" in message
    assert f"pair {second}: field 'im_2_correct' must be 'A' or 'B', got 'C'" in message
    assert f"pair {third}: field 'category_1' must be a non-empty list" in message
