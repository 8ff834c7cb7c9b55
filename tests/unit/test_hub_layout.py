"""The hub-layout copy of a LLaVA checkpoint that vLLM loads (models/hub_layout.py)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from mediconfusion_tests.errors import DataError
from mediconfusion_tests.models.hub_layout import hub_key, write_hub_layout

if TYPE_CHECKING:
    from pathlib import Path

torch = pytest.importorskip("torch")
safetensors_torch = pytest.importorskip("safetensors.torch")

pytestmark = pytest.mark.unit


def test_only_the_vision_towers_names_change() -> None:
    assert hub_key("vision_tower.embeddings.patch_embedding.weight") == (
        "vision_tower.vision_model.embeddings.patch_embedding.weight"
    )
    assert hub_key("vision_tower.vision_model.post_layernorm.bias") == "vision_tower.vision_model.post_layernorm.bias"
    assert hub_key("language_model.model.layers.0.mlp.up_proj.weight") == (
        "language_model.model.layers.0.mlp.up_proj.weight"
    )
    assert hub_key("multi_modal_projector.linear_1.weight") == "multi_modal_projector.linear_1.weight"


def checkpoint(folder: Path, shards: int = 1) -> dict[str, Any]:
    folder.mkdir()
    tensors = {
        "vision_tower.encoder.layers.0.q.weight": torch.arange(6.0).reshape(2, 3),
        "vision_tower.post_layernorm.bias": torch.tensor([0.5, -0.5]),
        "language_model.lm_head.weight": torch.ones(3, 2),
    }
    names = sorted(tensors)
    if shards == 1:
        safetensors_torch.save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
    else:
        weight_map = {}
        for index, name in enumerate(names):
            shard = f"model-{index + 1:05d}-of-{len(names):05d}.safetensors"
            safetensors_torch.save_file({name: tensors[name]}, str(folder / shard), metadata={"format": "pt"})
            weight_map[name] = shard
        (folder / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    (folder / "config.json").write_text('{"model_type": "llava"}')
    (folder / "chat_template.jinja").write_text("{{ messages }}")
    return tensors


@pytest.mark.parametrize("shards", [1, 3])
def test_the_copy_holds_the_same_tensors_under_hub_names_and_every_other_file(tmp_path: Path, shards: int) -> None:
    tensors = checkpoint(tmp_path / "src", shards)
    copy = write_hub_layout(tmp_path / "src", tmp_path / "hub")
    loaded: dict[str, Any] = {}
    for shard in copy.glob("*.safetensors"):
        loaded |= safetensors_torch.load_file(str(shard))
    assert set(loaded) == {hub_key(name) for name in tensors}
    assert all(torch.equal(loaded[hub_key(name)], value) for name, value in tensors.items())
    assert (copy / "config.json").read_text() == '{"model_type": "llava"}'
    assert (copy / "chat_template.jinja").is_file()
    if shards > 1:
        weight_map = json.loads((copy / "model.safetensors.index.json").read_text())["weight_map"]
        assert set(weight_map) == set(loaded)
        assert all(name in safetensors_torch.load_file(str(copy / shard)) for name, shard in weight_map.items())


def test_an_existing_destination_or_a_folder_without_weights_is_refused(tmp_path: Path) -> None:
    checkpoint(tmp_path / "src")
    (tmp_path / "taken").mkdir()
    with pytest.raises(DataError, match="exists already"):
        write_hub_layout(tmp_path / "src", tmp_path / "taken")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"no \*\.safetensors"):
        write_hub_layout(tmp_path / "empty", tmp_path / "out")
