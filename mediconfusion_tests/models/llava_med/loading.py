"""LLaVA-Med v1.5 into transformers' ``LlavaForConditionalGeneration``: config, strict renamed load, inputs.

What the authors' code computes (github microsoft/LLaVA-Med, ``llava/model``):
the CLIP tower's second-to-last layer, patch tokens only (576 for 336 px / 14),
through ``mm_projector`` (Linear, GELU, Linear) into Mistral's embedding space,
spliced where the prompt has its image token; images padded to a square with
the CLIP mean colour, then resized to 336 (``image_aspect_ratio: pad``); the
prompt ``[INST] <image>\\n{question} [/INST]`` (``mistral_instruct``) with one
BOS, each text chunk around the image tokenised on its own.

The image placeholder is ``<unk>`` (id 0 in Mistral's vocabulary), which no
prompt contains: the original splices at a sentinel id (-200) without a new
token, and adding one would add a row to ``lm_head`` and shift every
log-probability the prefix mode reads.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any, cast

from mediconfusion_tests.errors import ModelError
from mediconfusion_tests.models.hf_loading import token_id
from mediconfusion_tests.models.llava_med.keys import KEY_MAPPING, check

if TYPE_CHECKING:
    from pathlib import Path

    import torch
    from PIL import Image
    from transformers import CLIPVisionConfig, LlavaConfig, MistralConfig, PreTrainedTokenizerBase

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
VISION_PREFIX = "model.vision_tower.vision_tower.vision_model."
INDEX = "model.safetensors.index.json"
IMAGE_TOKEN = "<unk>"  # noqa: S105 - a token of the vocabulary, not a secret
#: Every published CLIP tower has attention heads of 64 dimensions.
CLIP_HEAD_DIM = 64


def weight_files(folder: Path) -> list[Path]:
    """The safetensors shards its index names (or the one file), all present."""
    index = folder / INDEX
    if index.is_file():
        try:
            names = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        except (ValueError, KeyError, AttributeError) as exc:
            raise ModelError(f"{index}: not a safetensors index ({exc})") from None
        files = [folder / name for name in names]
        missing = [f.name for f in files if not f.is_file()]
        if missing:
            raise ModelError(f"{folder}: the index names shard(s) that are not there: {', '.join(missing)}")
        return files
    single = folder / "model.safetensors"
    if single.is_file():
        return [single]
    raise ModelError(f"{folder}: no {INDEX} or model.safetensors (LLaVA-Med v1.5 is published as safetensors shards)")


def read_config(folder: Path) -> dict[str, Any]:
    path = folder / "config.json"
    try:
        config = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ModelError(f"{path}: cannot be read ({exc})") from None
    projector = config.get("mm_projector_type", "mlp2x_gelu")
    if projector != "mlp2x_gelu":
        raise ModelError(f"{path}: mm_projector_type {projector!r}; LLaVA-Med v1.5 uses mlp2x_gelu")
    aspect = config.get("image_aspect_ratio", "pad")
    if aspect != "pad":
        raise ModelError(f"{path}: image_aspect_ratio {aspect!r}; LLaVA-Med v1.5 pads images to a square")
    return dict(config)


def tensor_shapes(files: list[Path]) -> dict[str, tuple[int, ...]]:
    from safetensors import safe_open

    shapes: dict[str, tuple[int, ...]] = {}
    for file in files:
        with safe_open(str(file), framework="pt") as handle:
            for key in handle.keys():  # noqa: SIM118 - safe_open is not a mapping
                shapes[key] = tuple(handle.get_slice(key).get_shape())
    return shapes


def vision_config(shapes: dict[str, tuple[int, ...]]) -> CLIPVisionConfig:
    """CLIP's configuration read off its tensors (the LLaVA config only names the tower)."""
    from transformers import CLIPVisionConfig

    try:
        hidden, channels, patch, _ = shapes[VISION_PREFIX + "embeddings.patch_embedding.weight"]
        positions = shapes[VISION_PREFIX + "embeddings.position_embedding.weight"][0]
        intermediate = shapes[VISION_PREFIX + "encoder.layers.0.mlp.fc1.weight"][0]
    except KeyError as exc:
        raise ModelError(f"LLaVA-Med checkpoint: no vision tower tensor {exc.args[0]!r}") from None
    layers = len({k.split(".")[6] for k in shapes if k.startswith(VISION_PREFIX + "encoder.layers.")})
    grid = math.isqrt(positions - 1)
    return CLIPVisionConfig(
        hidden_size=hidden,
        intermediate_size=intermediate,
        num_hidden_layers=layers,
        num_attention_heads=max(1, hidden // CLIP_HEAD_DIM),
        num_channels=channels,
        image_size=grid * patch,
        patch_size=patch,
    )


def text_config(config: dict[str, Any]) -> MistralConfig:
    from transformers import MistralConfig

    names = (
        "vocab_size",
        "hidden_size",
        "intermediate_size",
        "num_hidden_layers",
        "num_attention_heads",
        "num_key_value_heads",
        "rms_norm_eps",
        "max_position_embeddings",
        "sliding_window",
        "bos_token_id",
        "eos_token_id",
        "hidden_act",
    )
    settings = {name: config[name] for name in names if name in config}
    rope = {"rope_type": "default", "rope_theta": float(config.get("rope_theta", 10000.0))}
    return MistralConfig(**settings, rope_parameters=rope, tie_word_embeddings=False)


def llava_config(folder: Path, shapes: dict[str, tuple[int, ...]], image_token_id: int) -> LlavaConfig:
    from transformers import LlavaConfig

    config = read_config(folder)
    select = config.get("mm_vision_select_feature", "patch")
    return LlavaConfig(
        vision_config=vision_config(shapes),
        text_config=text_config(config),
        image_token_index=image_token_id,
        vision_feature_layer=int(config.get("mm_vision_select_layer", -2)),
        vision_feature_select_strategy="default" if select == "patch" else "full",
        projector_hidden_act="gelu",
        multimodal_projector_bias=True,
        tie_word_embeddings=False,
    )


def load_model(folder: Path, dtype: Any, device: str, image_token_id: int) -> tuple[Any, dict[str, Any]]:
    """The model on ``device`` with every published tensor in place, renamed by transformers while it loads."""
    from transformers import LlavaForConditionalGeneration

    files = weight_files(folder)
    shapes = tensor_shapes(files)
    config = llava_config(folder, shapes, image_token_id)
    loaded = LlavaForConditionalGeneration.from_pretrained(
        folder,
        config=config,
        key_mapping=KEY_MAPPING,
        dtype=dtype,
        device_map=None if device == "cpu" else device,
        # A wrong shape is reported by check() in the published names, not raised by transformers.
        ignore_mismatched_sizes=True,
        output_loading_info=True,
    )
    # output_loading_info makes it a (model, report) pair, which transformers' annotation does not say.
    model, info = cast("tuple[LlavaForConditionalGeneration, dict[str, Any]]", loaded)
    dropped = check(info, shapes)
    model.eval()
    facts = {"files": [f.name for f in files], "tensors": len(shapes) - len(dropped), "dropped": dropped}
    return model, facts


def expand_to_square(image: Image.Image) -> Image.Image:
    """The authors' ``expand2square``: the image centred on a square of the CLIP mean colour."""
    from PIL import Image

    width, height = image.size
    if width == height:
        return image
    side = max(width, height)
    fill = tuple(int(x * 255) for x in CLIP_MEAN)
    square = Image.new(image.mode, (side, side), fill)
    square.paste(image, ((side - width) // 2, (side - height) // 2))
    return square


class LlavaMedProcessor:
    """Text and image inputs as LLaVA-Med builds them (see the module docstring)."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase, image_size: int, image_tokens: int) -> None:
        import transformers

        # The PIL processor, as the authors' code used (the torchvision one resizes slightly differently).
        processor_class = getattr(transformers, "CLIPImageProcessorPil", None) or transformers.CLIPImageProcessor
        self.tokenizer = tokenizer
        self.image_tokens = image_tokens
        self.image_token_id = token_id(tokenizer, IMAGE_TOKEN)
        self.image_processor = processor_class(
            size={"shortest_edge": image_size},
            crop_size={"height": image_size, "width": image_size},
            image_mean=list(CLIP_MEAN),
            image_std=list(CLIP_STD),
            resample=3,  # bicubic, as CLIP's processor
        )

    def _ids(self, text: str) -> list[int]:
        chunks = text.split("<image>")
        ids: list[int] = []
        for index, chunk in enumerate(chunks):
            piece = list(self.tokenizer(chunk).input_ids)
            bos = self.tokenizer.bos_token_id
            if index > 0 and piece and piece[0] == bos:
                piece = piece[1:]  # one BOS, at the start
            if index > 0:
                ids += [self.image_token_id] * self.image_tokens
            ids += piece
        return ids

    def __call__(
        self, text: list[str], images: list[Image.Image] | None = None, return_tensors: str = "pt"
    ) -> dict[str, torch.Tensor]:
        import torch

        ids = self._ids(text[0])
        out: dict[str, Any] = {
            "input_ids": torch.tensor([ids], dtype=torch.long),
            "attention_mask": torch.ones((1, len(ids)), dtype=torch.long),
        }
        if images:
            squared = [expand_to_square(image) for image in images]
            out["pixel_values"] = self.image_processor(images=squared, return_tensors=return_tensors)["pixel_values"]
        return out

    def batch_decode(self, *args: Any, **kwargs: Any) -> Any:
        return self.tokenizer.batch_decode(*args, **kwargs)
