"""Whether a model's files are there, decided without loading anything (models/availability.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from mediconfusion_tests.config import RunConfig
from mediconfusion_tests.models import availability
from mediconfusion_tests.models.registry import Registry

if TYPE_CHECKING:
    from pathlib import Path


def cache_snapshot(hub_cache: Path, repo: str, *files: str) -> Path:
    """A model repository as huggingface_hub caches it: refs/main names the snapshot holding the files."""
    folder = hub_cache / f"models--{repo.replace('/', '--')}"
    snapshot = folder / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    (folder / "refs").mkdir()
    (folder / "refs" / "main").write_text("0" * 40)
    for name in files:
        (snapshot / name).write_text("{}")
    return snapshot


def problems(model: str, llama_path: str | None = None) -> list[str]:
    registry = Registry()
    spec = registry.parse(model)
    requirements = registry.entry(spec).load_requirements()
    assert requirements is not None
    return requirements(spec, RunConfig(model=model, llama_path=llama_path))


@pytest.mark.parametrize(
    ("source", "path"),
    [
        ("llava-hf/llava-1.5-7b-hf", False),
        ("/models/llava", True),
        ("./llava", True),
        ("../llava", True),
        ("~/llava", True),
        ("models/llava/v1", True),
    ],
)
def test_a_folder_is_told_from_a_hub_id(source: str, path: bool) -> None:
    assert availability.looks_like_path(source) is path


def test_a_missing_folder_is_no_such_folder_not_a_download_hint(tmp_path: Path) -> None:
    (found,) = problems(f"hf:{tmp_path / 'nowhere'}")
    assert found == f"--model=hf:{tmp_path / 'nowhere'}: no such folder: {tmp_path / 'nowhere'}"


def test_a_folder_without_config_is_named(tmp_path: Path) -> None:
    (found,) = problems(f"hf:{tmp_path}")
    assert found.endswith(f"{tmp_path} has no config.json")


def test_a_preset_offline_and_not_cached_says_how_to_get_it() -> None:
    (found,) = problems("llava")
    assert "llava-hf/llava-v1.6-mistral-7b-hf is not in the Hugging Face cache" in found
    assert "HF_HUB_OFFLINE is set" in found
    assert "`hf download llava-hf/llava-v1.6-mistral-7b-hf`" in found


def test_a_cached_preset_has_no_problem(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    cache_snapshot(tmp_path, "llava-hf/llava-v1.6-mistral-7b-hf", "config.json")
    assert problems("llava") == []


def test_med_flamingo_names_every_missing_part(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    found = problems("med-flamingo")
    assert len(found) == 3
    assert "--llama-path=DIR" in found[0]
    assert "decapoda-research/llama-7b-hf, which is gone from the hub" in found[0]
    assert "baffo32/decapoda-research-llama-7B-hf" in found[0]
    assert "`hf download med-flamingo/med-flamingo model.pt`" in found[1]
    assert "openai/clip-vit-large-patch14" in found[2]
    cache_snapshot(tmp_path, "med-flamingo/med-flamingo", "model.pt")
    cache_snapshot(tmp_path, "openai/clip-vit-large-patch14", "config.json")
    llama = tmp_path / "llama"
    llama.mkdir()
    (llama / "config.json").write_text("{}")
    assert problems("med-flamingo", llama_path=str(llama)) == []
    (gone,) = problems("med-flamingo", llama_path=str(tmp_path / "gone"))
    assert gone.startswith(f"--llama-path={tmp_path / 'gone'}: no such folder")


def test_med_flamingo_folder_needs_model_pt(tmp_path: Path) -> None:
    llama = tmp_path / "llama"
    llama.mkdir()
    (llama / "config.json").write_text("{}")
    (tmp_path / "mf" / "vision").mkdir(parents=True)
    (found,) = problems(f"med-flamingo:{tmp_path / 'mf'}", llama_path=str(llama))
    assert found.endswith("has no model.pt")


def test_llava_med_folder_and_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (found,) = problems(f"llava-med:{tmp_path / 'x'}")
    assert "no such folder" in found
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    (found,) = problems("llava-med")
    assert "microsoft/llava-med-v1.5-mistral-7b is not in the Hugging Face cache" in found
    cache_snapshot(tmp_path, "microsoft/llava-med-v1.5-mistral-7b", "config.json")
    assert problems("llava-med") == []
