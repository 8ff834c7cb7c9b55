"""A tiny RadFM checkpoint in the published layout, built offline for our tests.

- ``tokenizer.model``: a sentencepiece BPE model (LLaMA's settings: unk 0, bos 1,
  eos 2, byte fallback) trained here on the sample benchmark's text and prompts;
  RadFM's added tokens follow its vocabulary exactly as in the published one;
- ``pytorch_model.bin``: one torch pickle whose tensors carry the published names
  (written out below from the published model's description, not from our
  module tree) at tiny sizes, random but seeded; plus the tensors of the modules
  answering never uses (BERT, upscaling, decoder heads) and old rotary buffers;
- ``config.json``: the LLaMA's config (heads, eps), as RadFM's Language_files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

#: Tiny sizes in the published layout (the published: 5120 / 40 layers / 768 / 12 layers / 32 latents).
HIDDEN, LAYERS, HEADS, INTERMEDIATE = 32, 2, 4, 64
VIS_DIM, VIS_DEPTH, VIS_INNER, VIS_MLP = 24, 2, 32, 48
PATCH, GRID, DEPTH_SLOTS = 4, 4, 8
LATENTS, PER_DEPTH, PER_INNER, PER_FF = 4, 2, 32, 96
VOCAB = 320


@dataclass(frozen=True)
class TinyRadFM:
    folder: Path
    vocab: int


def _corpus() -> list[str]:
    from mediconfusion_tests.prompts import BUILTIN_TEMPLATES
    from mediconfusion_tests.sample.benchmark import PAIRS

    lines = []
    for pair in PAIRS:
        lines += [pair.question, pair.paraphrase, *(o.text for o in pair.options)]
    lines += [t.replace("{", "").replace("}", "") for t in BUILTIN_TEMPLATES.values()]
    lines += [f"Answer: {letter}" for letter in "AB"] * 50 + [f" {letter} " for letter in "AB"] * 50
    return lines


def train_tokenizer(folder: Path) -> int:
    import io

    import sentencepiece

    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(_corpus()),
        model_writer=model,
        vocab_size=VOCAB,
        model_type="bpe",
        unk_id=0,
        bos_id=1,
        eos_id=2,
        pad_id=-1,
        byte_fallback=True,
        character_coverage=1.0,
        user_defined_symbols=[],
        minloglevel=2,
    )
    (folder / "tokenizer.model").write_bytes(model.getvalue())
    return VOCAB


def published_tensors(vocab: int) -> dict[str, tuple[int, ...]]:
    """The published checkpoint's tensor names at tiny sizes, as the issue describes the real one."""
    t: dict[str, tuple[int, ...]] = {
        "embedding_layer.weight": (vocab, HIDDEN),
        "embedding_layer.figure_token_weight": (2, HIDDEN),
        "embedding_layer.vision_encoder.to_patch_embedding.1.weight": (3 * PATCH * PATCH * 4,),
        "embedding_layer.vision_encoder.to_patch_embedding.1.bias": (3 * PATCH * PATCH * 4,),
        "embedding_layer.vision_encoder.to_patch_embedding.2.weight": (VIS_DIM, 3 * PATCH * PATCH * 4),
        "embedding_layer.vision_encoder.to_patch_embedding.2.bias": (VIS_DIM,),
        "embedding_layer.vision_encoder.to_patch_embedding.3.weight": (VIS_DIM,),
        "embedding_layer.vision_encoder.to_patch_embedding.3.bias": (VIS_DIM,),
        "embedding_layer.vision_encoder.pos_embedding.row_embed.weight": (GRID, VIS_DIM // 3),
        "embedding_layer.vision_encoder.pos_embedding.col_embed.weight": (GRID, VIS_DIM // 3),
        "embedding_layer.vision_encoder.pos_embedding.dep_embed.weight": (DEPTH_SLOTS, VIS_DIM // 3),
        "embedding_layer.perceiver.latents": (LATENTS, VIS_DIM),
        "embedding_layer.perceiver.norm.weight": (VIS_DIM,),
        "embedding_layer.perceiver.norm.bias": (VIS_DIM,),
        "embedding_layer.fc.weight": (HIDDEN, VIS_DIM),
        "embedding_layer.fc.bias": (HIDDEN,),
        "lang_model.model.embed_tokens.weight": (vocab, HIDDEN),
        "lang_model.model.norm.weight": (HIDDEN,),
        "lang_model.lm_head.weight": (vocab, HIDDEN),
    }
    for i in range(VIS_DEPTH):
        v = f"embedding_layer.vision_encoder.transformer.layers.{i}."
        t |= {
            v + "0.norm.weight": (VIS_DIM,),
            v + "0.norm.bias": (VIS_DIM,),
            v + "0.fn.to_qkv.weight": (3 * VIS_INNER, VIS_DIM),
            v + "0.fn.to_out.0.weight": (VIS_DIM, VIS_INNER),
            v + "0.fn.to_out.0.bias": (VIS_DIM,),
            v + "1.norm.weight": (VIS_DIM,),
            v + "1.norm.bias": (VIS_DIM,),
            v + "1.fn.net.0.weight": (VIS_MLP, VIS_DIM),
            v + "1.fn.net.0.bias": (VIS_MLP,),
            v + "1.fn.net.3.weight": (VIS_DIM, VIS_MLP),
            v + "1.fn.net.3.bias": (VIS_DIM,),
        }
    for i in range(PER_DEPTH):
        p = f"embedding_layer.perceiver.layers.{i}."
        t |= {
            p + "0.norm_media.weight": (VIS_DIM,),
            p + "0.norm_media.bias": (VIS_DIM,),
            p + "0.norm_latents.weight": (VIS_DIM,),
            p + "0.norm_latents.bias": (VIS_DIM,),
            p + "0.to_q.weight": (PER_INNER, VIS_DIM),
            p + "0.to_kv.weight": (2 * PER_INNER, VIS_DIM),
            p + "0.to_out.weight": (VIS_DIM, PER_INNER),
            p + "1.0.weight": (VIS_DIM,),
            p + "1.0.bias": (VIS_DIM,),
            p + "1.1.weight": (PER_FF, VIS_DIM),
            p + "1.3.weight": (VIS_DIM, PER_FF),
        }
    for i in range(LAYERS):
        q = f"lang_model.model.layers.{i}."
        t |= {
            q + "self_attn.q_proj.weight": (HIDDEN, HIDDEN),
            q + "self_attn.k_proj.weight": (HIDDEN, HIDDEN),
            q + "self_attn.v_proj.weight": (HIDDEN, HIDDEN),
            q + "self_attn.o_proj.weight": (HIDDEN, HIDDEN),
            q + "mlp.gate_proj.weight": (INTERMEDIATE, HIDDEN),
            q + "mlp.up_proj.weight": (INTERMEDIATE, HIDDEN),
            q + "mlp.down_proj.weight": (HIDDEN, INTERMEDIATE),
            q + "input_layernorm.weight": (HIDDEN,),
            q + "post_attention_layernorm.weight": (HIDDEN,),
        }
    return t


UNUSED: dict[str, tuple[int, ...]] = {
    "embedding_layer.bert_model.embeddings.word_embeddings.weight": (10, 8),
    "embedding_layer.bert_projection_fc.weight": (VIS_DIM, 8),
    "embedding_layer.output_upscaling.0.weight": (VIS_DIM, 6, 2, 2, 2),
    "embedding_layer.transformer_decoder.layers.0.self_attn.in_proj_weight": (3 * VIS_DIM, VIS_DIM),
    "embedding_layer.transformer_decoder_mlp.0.weight": (6, VIS_DIM),
    "embedding_layer.cls_head.weight": (1, 3),
}


def tensors(vocab: int, seed: int = 0) -> dict[str, Any]:
    """Seeded random tensors: norms near 1, the rest small, the two token tables the same tensor."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    state: dict[str, Any] = {}
    for key, shape in published_tensors(vocab).items():
        if key == "embedding_layer.weight":
            continue
        if "norm" in key and key.endswith(".weight") and len(shape) == 1:
            value = 1.0 + 0.1 * torch.randn(shape, generator=generator)
        elif key.endswith(".bias"):
            value = 0.1 * torch.randn(shape, generator=generator)
        else:
            value = 0.5 * torch.randn(shape, generator=generator)
        state[key] = value
    state["embedding_layer.weight"] = state["lang_model.model.embed_tokens.weight"]
    for key, shape in UNUSED.items():
        state[key] = torch.randn(shape, generator=generator)
    for i in range(LAYERS):
        state[f"lang_model.model.layers.{i}.self_attn.rotary_emb.inv_freq"] = torch.ones(HIDDEN // HEADS // 2)
    return state


def build_tiny_radfm(folder: Path, seed: int = 0) -> TinyRadFM:
    import torch

    folder.mkdir(parents=True, exist_ok=True)
    vocab = train_tokenizer(folder)
    torch.save(tensors(vocab, seed), folder / "pytorch_model.bin")
    config = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": HIDDEN,
        "num_attention_heads": HEADS,
        "num_hidden_layers": LAYERS,
        "intermediate_size": INTERMEDIATE,
        "rms_norm_eps": 1e-6,
        "max_position_embeddings": 1024,
        "vocab_size": vocab,
    }
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    return TinyRadFM(folder, vocab)
