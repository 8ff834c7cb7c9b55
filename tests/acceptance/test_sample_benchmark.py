from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING

from sample_oracle import oracle_letter, read_attribute

from mediconfusion_tests.data.files import read_pairs
from mediconfusion_tests.sample.benchmark import PAIRS, SCENES, sample_folder
from mediconfusion_tests.sample.scenes import draw_scene

if TYPE_CHECKING:
    from pathlib import Path

REAL_SCHEMA = {
    "im_1",
    "im_2",
    "im_1_local",
    "im_2_local",
    "cap_1",
    "cap_2",
    "category_1",
    "category_2",
    "BiomedCLIP_sim",
    "DINO_sim",
    "question",
    "option_A",
    "option_B",
    "im_1_correct",
    "im_2_correct",
    "AI_question",
    "AI_option_A",
    "AI_option_B",
}


def test_sample_is_a_valid_benchmark_in_the_real_schema(sample_dir: Path) -> None:
    pairs = read_pairs(sample_dir / "dataset.json")
    assert len(pairs) >= 12
    assert len({c for p in pairs for c in p.all_categories}) >= 3
    assert all(p.truth[0] != p.truth[1] for p in pairs)
    sample_fields = set(next(iter(json.loads((sample_dir / "dataset.json").read_text()).values())))
    # Every field of the real schema but the two model similarity scores, which we cannot compute.
    assert REAL_SCHEMA - sample_fields == {"BiomedCLIP_sim", "DINO_sim"}
    assert sample_fields <= REAL_SCHEMA


def test_the_listed_schema_is_the_real_one(real_dataset: dict) -> None:
    assert set(next(iter(real_dataset.values()))) == REAL_SCHEMA


def test_images_are_deterministic() -> None:
    for local_id, spec in list(SCENES.items())[:4]:
        assert draw_scene(local_id, spec).tobytes() == draw_scene(local_id, spec).tobytes()
    assert draw_scene(90001, SCENES[90001]).tobytes() != draw_scene(90014, SCENES[90014]).tobytes()


def test_every_finding_can_be_read_from_the_pixels(sample_dir: Path) -> None:
    for local_id, spec in SCENES.items():
        for attribute, value in spec.attributes:
            assert read_attribute(attribute, sample_dir / "images" / f"{local_id}.jpg") == value, local_id


def test_every_question_is_answerable_from_its_image(sample_dir: Path) -> None:
    for pair in PAIRS:
        for index, local_id in enumerate(pair.images):
            assert oracle_letter(pair.id, sample_dir / "images" / f"{local_id}.jpg") == pair.truth(index)


def test_materialising_twice_reuses_the_folder(tmp_path: Path) -> None:
    first = sample_folder(tmp_path)
    stamp = (first / "dataset.json").stat().st_mtime_ns
    digest = hashlib.sha256((first / "dataset.json").read_bytes()).hexdigest()
    second = sample_folder(tmp_path)
    assert second == first
    assert (second / "dataset.json").stat().st_mtime_ns == stamp
    assert hashlib.sha256((second / "dataset.json").read_bytes()).hexdigest() == digest
    # No half-built scratch folder is left; the lock file stays (a lock removed on release is racy).
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".") and p.suffix != ".lock"]
