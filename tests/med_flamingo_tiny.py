"""A tiny Med-Flamingo in the published layout: a LLaMA folder, a CLIP vision folder and ``model.pt``.

``model.pt`` holds what the published checkpoint holds, under OpenFlamingo's names, written from the
issue's and OpenFlamingo's description (not from our modules): the perceiver (``perceiver.latents``,
``perceiver.layers.L.0.*`` attention, ``perceiver.layers.L.1.{0,1,3}`` feed-forward, ``perceiver.norm``), the
gated cross-attention blocks before every fourth decoder layer under both spellings OpenFlamingo saves
(``lang_encoder.gated_cross_attn_layers.I.*`` and ``lang_encoder.model.layers.I.gated_cross_attn_layer.*``),
and the token embedding with the three added tokens.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mediconfusion_tests.sample.demo_model import train_tokenizer

if TYPE_CHECKING:
    from pathlib import Path

HIDDEN, LAYERS, VISION, VISION_LAYERS, PATCH, IMAGE = 64, 8, 64, 2, 14, 28
LATENTS, DEPTH, HEADS, DIM_HEAD = 64, 6, 8, 64


def published_state(vocab: int, seed: int = 0, lm_head: bool = False) -> dict[str, Any]:
    import torch

    generator = torch.Generator().manual_seed(seed)

    def rand(*shape: int, scale: float = 0.05) -> Any:
        return torch.randn(*shape, generator=generator) * scale

    def norm(prefix: str, dim: int) -> dict[str, Any]:
        return {prefix + ".weight": 1.0 + rand(dim, scale=0.02), prefix + ".bias": rand(dim, scale=0.02)}

    def ff(prefix: str, dim: int) -> dict[str, Any]:
        return {
            **norm(prefix + ".0", dim),
            prefix + ".1.weight": rand(4 * dim, dim),
            prefix + ".3.weight": rand(dim, 4 * dim),
        }

    inner = HEADS * DIM_HEAD
    state: dict[str, Any] = {"perceiver.latents": rand(LATENTS, VISION, scale=1.0)}
    for layer in range(DEPTH):
        p = f"perceiver.layers.{layer}"
        state |= {
            **norm(p + ".0.norm_media", VISION),
            **norm(p + ".0.norm_latents", VISION),
            p + ".0.to_q.weight": rand(inner, VISION),
            p + ".0.to_kv.weight": rand(2 * inner, VISION),
            p + ".0.to_out.weight": rand(VISION, inner),
            **ff(p + ".1", VISION),
        }
    state |= norm("perceiver.norm", VISION)
    for index in range(3, LAYERS, 4):
        block = {
            **norm("attn.norm", HIDDEN),
            "attn.to_q.weight": rand(inner, HIDDEN),
            "attn.to_kv.weight": rand(2 * inner, VISION),
            "attn.to_out.weight": rand(HIDDEN, inner),
            "attn_gate": torch.tensor([0.7]),
            **ff("ff", HIDDEN),
            "ff_gate": torch.tensor([-0.4]),
        }
        for name, tensor in block.items():
            state[f"lang_encoder.gated_cross_attn_layers.{index}.{name}"] = tensor
            state[f"lang_encoder.model.layers.{index}.gated_cross_attn_layer.{name}"] = tensor.clone()
    state["lang_encoder.model.embed_tokens.weight"] = rand(vocab, HIDDEN, scale=0.5)
    if lm_head:
        state["lang_encoder.lm_head.weight"] = rand(vocab, HIDDEN, scale=0.5)
    return state


def build_med_flamingo(root: Path, seed: int = 0, change: Any = None) -> tuple[Path, Path]:
    """(checkpoint folder with model.pt and vision/, LLaMA folder); ``change(state)`` edits model.pt first."""
    import torch
    from tokenizers.processors import TemplateProcessing
    from transformers import CLIPVisionConfig, CLIPVisionModel, LlamaConfig, LlamaForCausalLM

    llama, checkpoint = root / "llama", root / "med-flamingo"
    checkpoint.mkdir(parents=True, exist_ok=True)
    tokenizer = train_tokenizer(sentencepiece=True, pad="<pad>")
    tokenizer.backend_tokenizer.post_processor = TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    tokenizer.pad_token = None  # LLaMA's tokenizer has none: OpenFlamingo adds <PAD>
    tokenizer.save_pretrained(llama)
    torch.manual_seed(seed)
    base_vocab = len(tokenizer)
    config = LlamaConfig(
        vocab_size=base_vocab,
        hidden_size=HIDDEN,
        intermediate_size=2 * HIDDEN,
        num_hidden_layers=LAYERS,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        bos_token_id=1,
        eos_token_id=2,
    )
    LlamaForCausalLM(config).eval().save_pretrained(llama)
    vision = CLIPVisionConfig(
        hidden_size=VISION,
        intermediate_size=2 * VISION,
        num_hidden_layers=VISION_LAYERS,
        num_attention_heads=1,
        image_size=IMAGE,
        patch_size=PATCH,
    )
    CLIPVisionModel(vision).eval().save_pretrained(checkpoint / "vision")
    state = published_state(base_vocab + 3, seed)  # <|endofchunk|>, <image>, <PAD>
    if change is not None:
        change(state)
    torch.save(state, checkpoint / "model.pt")
    return checkpoint, llama
