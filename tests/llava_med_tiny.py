"""A tiny LLaVA-Med v1.5 checkpoint in the published layout, written from the issue's description.

Tensor names and shapes follow the original LLaVA format (Mistral under ``model.*``
and ``lm_head``, ``model.mm_projector.{0,2}``, CLIP under
``model.vision_tower.vision_tower.vision_model.*``, the old ``position_ids``
buffer included), split over two safetensors shards with an index, beside a
config.json in LLaVA's own format and a SentencePiece-style tokenizer whose
``<unk>``, ``<s>``, ``</s>`` are ids 0, 1, 2 as in Mistral's. Nothing here uses
our key map, so the loader is checked against the layout, not against itself.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from mediconfusion_tests.sample.demo_model import train_tokenizer

if TYPE_CHECKING:
    from pathlib import Path

HIDDEN, LAYERS, HEADS, KV_HEADS = 64, 2, 4, 2
VISION, VISION_LAYERS, PATCH, IMAGE = 128, 3, 14, 56  # 16 patches; 2 heads of 64
VISION_PREFIX = "model.vision_tower.vision_tower.vision_model."


def published_tensors(vocab: int, seed: int = 0) -> dict[str, Any]:
    import torch

    generator = torch.Generator().manual_seed(seed)

    def rand(*shape: int, scale: float = 0.08) -> Any:
        return torch.randn(*shape, generator=generator) * scale

    def ones(size: int) -> Any:
        return 1.0 + rand(size, scale=0.02)

    head_dim = HIDDEN // HEADS
    tensors: dict[str, Any] = {"model.embed_tokens.weight": rand(vocab, HIDDEN, scale=0.5)}
    for i in range(LAYERS):
        layer = f"model.layers.{i}."
        tensors |= {
            layer + "self_attn.q_proj.weight": rand(HIDDEN, HIDDEN),
            layer + "self_attn.k_proj.weight": rand(KV_HEADS * head_dim, HIDDEN),
            layer + "self_attn.v_proj.weight": rand(KV_HEADS * head_dim, HIDDEN),
            layer + "self_attn.o_proj.weight": rand(HIDDEN, HIDDEN),
            layer + "mlp.gate_proj.weight": rand(2 * HIDDEN, HIDDEN),
            layer + "mlp.up_proj.weight": rand(2 * HIDDEN, HIDDEN),
            layer + "mlp.down_proj.weight": rand(HIDDEN, 2 * HIDDEN),
            layer + "input_layernorm.weight": ones(HIDDEN),
            layer + "post_attention_layernorm.weight": ones(HIDDEN),
        }
    tensors |= {
        "model.norm.weight": ones(HIDDEN),
        "lm_head.weight": rand(vocab, HIDDEN, scale=0.5),
        "model.mm_projector.0.weight": rand(HIDDEN, VISION),
        "model.mm_projector.0.bias": rand(HIDDEN),
        "model.mm_projector.2.weight": rand(HIDDEN, HIDDEN),
        "model.mm_projector.2.bias": rand(HIDDEN),
    }
    positions = (IMAGE // PATCH) ** 2 + 1
    v = VISION_PREFIX
    tensors |= {
        v + "embeddings.class_embedding": rand(VISION),
        v + "embeddings.patch_embedding.weight": rand(VISION, 3, PATCH, PATCH),
        v + "embeddings.position_embedding.weight": rand(positions, VISION),
        v + "embeddings.position_ids": torch.arange(positions).unsqueeze(0),
        v + "pre_layrnorm.weight": ones(VISION),
        v + "pre_layrnorm.bias": rand(VISION, scale=0.02),
        v + "post_layernorm.weight": ones(VISION),
        v + "post_layernorm.bias": rand(VISION, scale=0.02),
    }
    for i in range(VISION_LAYERS):
        layer = f"{v}encoder.layers.{i}."
        for name in ("q_proj", "k_proj", "v_proj", "out_proj"):
            tensors[layer + f"self_attn.{name}.weight"] = rand(VISION, VISION)
            tensors[layer + f"self_attn.{name}.bias"] = rand(VISION, scale=0.02)
        tensors |= {
            layer + "layer_norm1.weight": ones(VISION),
            layer + "layer_norm1.bias": rand(VISION, scale=0.02),
            layer + "layer_norm2.weight": ones(VISION),
            layer + "layer_norm2.bias": rand(VISION, scale=0.02),
            layer + "mlp.fc1.weight": rand(2 * VISION, VISION),
            layer + "mlp.fc1.bias": rand(2 * VISION, scale=0.02),
            layer + "mlp.fc2.weight": rand(VISION, 2 * VISION),
            layer + "mlp.fc2.bias": rand(VISION, scale=0.02),
        }
    return tensors


def llava_config(vocab: int) -> dict[str, Any]:
    """config.json as LLaVA-Med v1.5 publishes it (its own model type; no vision config of its own)."""
    return {
        "architectures": ["LlavaMistralForCausalLM"],
        "model_type": "llava_mistral",
        "hidden_act": "silu",
        "hidden_size": HIDDEN,
        "intermediate_size": 2 * HIDDEN,
        "num_attention_heads": HEADS,
        "num_key_value_heads": KV_HEADS,
        "num_hidden_layers": LAYERS,
        "vocab_size": vocab,
        "rms_norm_eps": 1e-5,
        "rope_theta": 1000000.0,
        "max_position_embeddings": 2048,
        "sliding_window": None,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "tie_word_embeddings": False,
        "torch_dtype": "float32",
        "image_aspect_ratio": "pad",
        "mm_hidden_size": VISION,
        "mm_projector_type": "mlp2x_gelu",
        "mm_vision_select_feature": "patch",
        "mm_vision_select_layer": -2,
        "mm_vision_tower": "openai/clip-vit-large-patch14-336",
        "mm_use_im_start_end": False,
        "mm_use_im_patch_token": False,
    }


def write_shards(folder: Path, tensors: dict[str, Any], shards: int = 2) -> None:
    from safetensors.torch import save_file

    names = sorted(tensors)
    weight_map: dict[str, str] = {}
    for index in range(shards):
        file = f"model-{index + 1:05d}-of-{shards:05d}.safetensors"
        part = {name: tensors[name].contiguous() for name in names[index::shards]}
        save_file(part, str(folder / file), metadata={"format": "pt"})
        weight_map |= dict.fromkeys(part, file)
    index_file = {"metadata": {"total_size": 0}, "weight_map": weight_map}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index_file, indent=2))


def build_llava_med(folder: Path, seed: int = 0, change: Any = None) -> Path:
    """Write the checkpoint; ``change(tensors)`` edits the tensors first (for the strict-loading tests)."""
    folder.mkdir(parents=True, exist_ok=True)
    from tokenizers.processors import TemplateProcessing

    tokenizer = train_tokenizer(["[INST]", "[/INST]"], sentencepiece=True)
    assert (tokenizer.unk_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id) == (0, 1, 2)
    # Like Mistral's LlamaTokenizer: every encoded text starts with <s>.
    tokenizer.backend_tokenizer.post_processor = TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    tokenizer.save_pretrained(folder)
    vocab = ((len(tokenizer) + 63) // 64) * 64
    tensors = published_tensors(vocab, seed)
    if change is not None:
        change(tensors)
    write_shards(folder, tensors)
    (folder / "config.json").write_text(json.dumps(llava_config(vocab), indent=2))
    return folder
