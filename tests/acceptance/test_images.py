from __future__ import annotations

import shutil
from typing import TYPE_CHECKING

import pytest

from mediconfusion_tests.config import RunConfig
from mediconfusion_tests.data.files import read_pairs
from mediconfusion_tests.data.images import LOCAL, ROCO, check_images, detect_layout, distinct_images
from mediconfusion_tests.errors import DataError
from mediconfusion_tests.models.registry import Registry
from mediconfusion_tests.run.plan import prepare_run

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture
def pairs(sample_dir: Path) -> list:
    return read_pairs(sample_dir / "dataset.json")


def test_local_layout_is_detected(sample_dir: Path, pairs: list) -> None:
    layout = detect_layout(sample_dir / "images", distinct_images(pairs))
    assert layout.kind == LOCAL
    assert check_images(layout, distinct_images(pairs)) == {}


def test_roco_layout_is_found_below_a_prefix(sample_dir: Path, pairs: list, tmp_path: Path) -> None:
    root = tmp_path / "roco"
    for image in distinct_images(pairs):
        target = root / "roco-dataset" / "data" / image.roco_path
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(sample_dir / "images" / f"{image.local_id}.jpg", target)
    layout = detect_layout(root, distinct_images(pairs))
    assert (layout.kind, layout.prefix) == (ROCO, "roco-dataset/data")
    assert check_images(layout, distinct_images(pairs)) == {}


def broken_copy(sample_dir: Path, tmp_path: Path) -> Path:
    images = tmp_path / "images"
    shutil.copytree(sample_dir / "images", images)
    (images / "90003.jpg").unlink()
    (images / "90011.jpg").unlink()
    data = (images / "90012.jpg").read_bytes()
    (images / "90012.jpg").write_bytes(data[: len(data) // 3])  # truncated JPEG
    (images / "90013.jpg").write_text("not an image")
    return images


def test_one_error_lists_every_bad_image_and_the_fetch_command(sample_dir: Path, tmp_path: Path) -> None:
    images = broken_copy(sample_dir, tmp_path)
    config = RunConfig(model="random", dataset=str(sample_dir), images=str(images))
    with pytest.raises(DataError) as info:
        prepare_run(config, Registry())
    message = str(info.value)
    assert message.startswith("4 of 15 benchmark images are missing or unreadable")
    for local_id in ("90003", "90011", "90012", "90013"):
        assert f"image {local_id} (" in message
    assert "90003 (sample/radiology/images/SAMPLE_90003.jpg): missing [pairs 90103]" in message
    assert "cannot be decoded" in message
    assert f"mediconfusion fetch-images --out {images}" in message
    assert "--allow-missing-images" in message


def test_allow_missing_images_skips_the_affected_pairs(sample_dir: Path, tmp_path: Path) -> None:
    images = broken_copy(sample_dir, tmp_path)
    config = RunConfig(model="random", dataset=str(sample_dir), images=str(images), allow_missing_images=True)
    plan, _ = prepare_run(config, Registry())
    assert sorted(plan.skipped) == ["90103", "90110", "90111", "90112", "90113"]
    assert plan.skipped["90103"] == "image 90003 missing"


def test_models_that_never_look_skip_the_image_check(sample_dir: Path, tmp_path: Path) -> None:
    dataset = tmp_path / "ds"
    dataset.mkdir()
    shutil.copy(sample_dir / "dataset.json", dataset)
    plan, pairs = prepare_run(RunConfig(model="random", dataset=str(dataset)), Registry())
    assert plan.layout is None
    assert len(pairs) == 16
