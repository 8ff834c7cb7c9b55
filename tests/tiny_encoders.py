"""Tiny random image encoders saved as transformers folders: a CLIP (its projected image features) and a
DINOv2 (its pooled CLS token), for mine-pairs' ``hf:PATH`` encoders in our tests and benchmarks."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path


def build_tiny_encoders(folder: Path, width: int = 32, layers: int = 1, image_size: int = 32) -> tuple[Path, Path]:
    """(CLIP folder, DINOv2 folder), each with its image processor, patches of image_size / 4."""
    from transformers import BitImageProcessor, CLIPConfig, CLIPImageProcessor, CLIPModel, Dinov2Config, Dinov2Model

    clip, dino = folder / "clip", folder / "dino"
    vision: dict[str, Any] = {
        "hidden_size": width,
        "intermediate_size": 2 * width,
        "num_hidden_layers": layers,
        "num_attention_heads": 2,
    }
    patch = image_size // 4
    CLIPModel(
        CLIPConfig(
            text_config={**vision, "vocab_size": 99, "max_position_embeddings": 16},
            vision_config={**vision, "image_size": image_size, "patch_size": patch},
            projection_dim=width // 2,
        )
    ).save_pretrained(clip)
    size = {"shortest_edge": image_size}
    crop = {"height": image_size, "width": image_size}
    CLIPImageProcessor(size=size, crop_size=crop).save_pretrained(clip)
    Dinov2Model(Dinov2Config(**vision, image_size=image_size, patch_size=patch)).save_pretrained(dino)
    BitImageProcessor(size=size, crop_size=crop).save_pretrained(dino)
    return clip, dino
