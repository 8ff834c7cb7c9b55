"""A replay file missing some of the dataset's pairs: they are listed, or skipped when asked."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from helpers import harness_file, r

from mediconfusion_tests.config import RunConfig
from mediconfusion_tests.data.files import read_pairs
from mediconfusion_tests.errors import DataError
from mediconfusion_tests.models.base import ModelSpec
from mediconfusion_tests.models.replay import validate_replay

if TYPE_CHECKING:
    from pathlib import Path


def test_missing_pairs_are_listed_or_skipped(tmp_path: Path, sample_dir: Path) -> None:
    pairs = read_pairs(sample_dir / "dataset.json")
    entries = {p.id: {"answer": {"im1": r("A"), "im2": r("B")}} for p in pairs[2:]}
    path = harness_file(tmp_path, entries)
    spec = ModelSpec(f"replay:{path}", "replay", str(path))
    with pytest.raises(DataError, match=r"no answers for 2 of 16 pair\(s\): 90101, 90102"):
        validate_replay(spec, RunConfig(model=spec.raw), pairs)
    skips = validate_replay(spec, RunConfig(model=spec.raw, allow_missing_answers=True), pairs)
    assert set(skips) == {"90101", "90102"}
