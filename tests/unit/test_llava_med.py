"""LLaVA-Med v1.5's key map covers the published layout (no weights)."""

from __future__ import annotations

import pytest
from llava_med_tiny import VISION_PREFIX

from mediconfusion_tests.errors import ModelError
from mediconfusion_tests.models.llava_med.keys import target

pytest.importorskip("transformers")

pytest.importorskip("safetensors")


def test_the_key_map_covers_the_published_layout() -> None:
    assert target("model.layers.3.mlp.up_proj.weight") == "model.language_model.layers.3.mlp.up_proj.weight"
    assert target("model.mm_projector.2.bias") == "model.multi_modal_projector.linear_2.bias"
    assert (
        target(VISION_PREFIX + "encoder.layers.0.mlp.fc1.weight")
        == "model.vision_tower.encoder.layers.0.mlp.fc1.weight"
    )
    assert target(VISION_PREFIX + "embeddings.position_ids") is None
    with pytest.raises(ModelError, match=r"unexpected tensor 'model\.mm_projector\.1\.weight'"):
        target("model.mm_projector.1.weight")
