"""RadFM's sizes, read from the checkpoint's tensor shapes, and the exact key table they imply.

The published checkpoint fixes every size but the attention head counts: the
vision transformer and the perceiver use 8 heads (the authors' constants), the
LLaMA the count in its ``config.json`` (40 for LLaMA-13B). A tiny checkpoint of
the same layout is read the same way, which is how our tests build one.
Pure Python: shapes are tuples, so this runs and is tested without torch.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mediconfusion_tests.errors import ModelError

if TYPE_CHECKING:
    from collections.abc import Mapping

Shape = tuple[int, ...]

VISION = "embedding_layer.vision_encoder."
PERCEIVER = "embedding_layer.perceiver."
LANGUAGE = "lang_model."
#: The same tensor as the LLaMA's token embedding (the authors tie them); checked, then dropped.
EMBEDDING_ALIAS = "embedding_layer.weight"
TOKEN_EMBEDDING = "lang_model.model.embed_tokens.weight"  # noqa: S105 - a tensor's name
#: Modules of the checkpoint that answering never runs (report-grounding heads, the BERT used in training).
UNUSED_PREFIXES = (
    "embedding_layer.bert_model.",
    "embedding_layer.bert_projection_fc.",
    "embedding_layer.output_upscaling.",
    "embedding_layer.transformer_decoder.",
    "embedding_layer.transformer_decoder_mlp.",
    "embedding_layer.cls_head.",
)
#: Rotary frequencies old transformers saved as buffers; current LLaMA computes them from its config.
UNUSED_BUFFER = re.compile(r"^lang_model\.model\.layers\.\d+\.self_attn\.rotary_emb\.inv_freq$")
#: The authors' constants, not recoverable from shapes.
VISION_HEADS = 8
PERCEIVER_HEADS = 8
CHANNELS = 3
FRAME_PATCH = 4
#: LLaMA-13B's own config, used when the checkpoint folder has no config.json.
LLAMA_13B = {"num_attention_heads": 40, "rms_norm_eps": 1e-6, "max_position_embeddings": 2048, "rope_theta": 10000.0}


@dataclass(frozen=True)
class LanguageShape:
    vocab: int
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    intermediate: int
    rms_norm_eps: float
    max_positions: int
    rope_theta: float

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads


@dataclass(frozen=True)
class VisionShape:
    dim: int
    depth: int
    dim_head: int
    mlp_dim: int
    patch: int
    rows: int
    cols: int
    frames: int
    heads: int = VISION_HEADS
    frame_patch: int = FRAME_PATCH
    channels: int = CHANNELS

    @property
    def image_size(self) -> int:
        """The side the 2D image is resized to (512 for the published model)."""
        return self.rows * self.patch

    @property
    def patch_dim(self) -> int:
        return self.channels * self.patch * self.patch * self.frame_patch

    @property
    def position_dim(self) -> int:
        return self.dim // 3


@dataclass(frozen=True)
class PerceiverShape:
    dim: int
    latents: int
    depth: int
    dim_head: int
    ff_dim: int
    heads: int = PERCEIVER_HEADS


@dataclass(frozen=True)
class RadFMShape:
    language: LanguageShape
    vision: VisionShape
    perceiver: PerceiverShape

    @property
    def image_tokens(self) -> int:
        """Placeholder tokens per image: one per perceiver latent (32 for the published model)."""
        return self.perceiver.latents

    def expected(self) -> dict[str, Shape]:
        """Every tensor answering needs, by its name in the checkpoint (our module tree has the same names)."""
        lang, vis, per = self.language, self.vision, self.perceiver
        keys: dict[str, Shape] = {
            EMBEDDING_ALIAS: (lang.vocab, lang.hidden),
            "embedding_layer.figure_token_weight": (2, lang.hidden),
            "embedding_layer.fc.weight": (lang.hidden, per.dim),
            "embedding_layer.fc.bias": (lang.hidden,),
            f"{VISION}to_patch_embedding.1.weight": (vis.patch_dim,),
            f"{VISION}to_patch_embedding.1.bias": (vis.patch_dim,),
            f"{VISION}to_patch_embedding.2.weight": (vis.dim, vis.patch_dim),
            f"{VISION}to_patch_embedding.2.bias": (vis.dim,),
            f"{VISION}to_patch_embedding.3.weight": (vis.dim,),
            f"{VISION}to_patch_embedding.3.bias": (vis.dim,),
            f"{VISION}pos_embedding.row_embed.weight": (vis.rows, vis.position_dim),
            f"{VISION}pos_embedding.col_embed.weight": (vis.cols, vis.position_dim),
            f"{VISION}pos_embedding.dep_embed.weight": (vis.frames, vis.position_dim),
            f"{PERCEIVER}latents": (per.latents, per.dim),
            f"{PERCEIVER}norm.weight": (per.dim,),
            f"{PERCEIVER}norm.bias": (per.dim,),
            f"{LANGUAGE}model.embed_tokens.weight": (lang.vocab, lang.hidden),
            f"{LANGUAGE}model.norm.weight": (lang.hidden,),
            f"{LANGUAGE}lm_head.weight": (lang.vocab, lang.hidden),
        }
        inner = vis.heads * vis.dim_head
        for i in range(vis.depth):
            layer = f"{VISION}transformer.layers.{i}."
            keys |= {
                f"{layer}0.norm.weight": (vis.dim,),
                f"{layer}0.norm.bias": (vis.dim,),
                f"{layer}0.fn.to_qkv.weight": (3 * inner, vis.dim),
                f"{layer}0.fn.to_out.0.weight": (vis.dim, inner),
                f"{layer}0.fn.to_out.0.bias": (vis.dim,),
                f"{layer}1.norm.weight": (vis.dim,),
                f"{layer}1.norm.bias": (vis.dim,),
                f"{layer}1.fn.net.0.weight": (vis.mlp_dim, vis.dim),
                f"{layer}1.fn.net.0.bias": (vis.mlp_dim,),
                f"{layer}1.fn.net.3.weight": (vis.dim, vis.mlp_dim),
                f"{layer}1.fn.net.3.bias": (vis.dim,),
            }
        inner = per.heads * per.dim_head
        for i in range(per.depth):
            layer = f"{PERCEIVER}layers.{i}."
            keys |= {
                f"{layer}0.norm_media.weight": (per.dim,),
                f"{layer}0.norm_media.bias": (per.dim,),
                f"{layer}0.norm_latents.weight": (per.dim,),
                f"{layer}0.norm_latents.bias": (per.dim,),
                f"{layer}0.to_q.weight": (inner, per.dim),
                f"{layer}0.to_kv.weight": (2 * inner, per.dim),
                f"{layer}0.to_out.weight": (per.dim, inner),
                f"{layer}1.0.weight": (per.dim,),
                f"{layer}1.0.bias": (per.dim,),
                f"{layer}1.1.weight": (per.ff_dim, per.dim),
                f"{layer}1.3.weight": (per.dim, per.ff_dim),
            }
        kv = lang.kv_heads * lang.head_dim
        for i in range(lang.layers):
            layer = f"{LANGUAGE}model.layers.{i}."
            keys |= {
                f"{layer}self_attn.q_proj.weight": (lang.hidden, lang.hidden),
                f"{layer}self_attn.k_proj.weight": (kv, lang.hidden),
                f"{layer}self_attn.v_proj.weight": (kv, lang.hidden),
                f"{layer}self_attn.o_proj.weight": (lang.hidden, lang.hidden),
                f"{layer}mlp.gate_proj.weight": (lang.intermediate, lang.hidden),
                f"{layer}mlp.up_proj.weight": (lang.intermediate, lang.hidden),
                f"{layer}mlp.down_proj.weight": (lang.hidden, lang.intermediate),
                f"{layer}input_layernorm.weight": (lang.hidden,),
                f"{layer}post_attention_layernorm.weight": (lang.hidden,),
            }
        return keys


def is_unused(key: str) -> bool:
    """A tensor of the checkpoint that answering deliberately leaves out."""
    return key.startswith(UNUSED_PREFIXES) or UNUSED_BUFFER.match(key) is not None


def _need(shapes: Mapping[str, Shape], key: str, rank: int) -> Shape:
    shape = shapes.get(key)
    if shape is None:
        raise ModelError(f"RadFM checkpoint: missing tensor {key!r}")
    if len(shape) != rank:
        raise ModelError(f"RadFM checkpoint: {key!r} has shape {list(shape)}, expected {rank} dimension(s)")
    return shape


def _count(shapes: Mapping[str, Shape], pattern: str) -> int:
    found = {int(m.group(1)) for key in shapes if (m := re.match(pattern, key))}
    if not found:
        raise ModelError(f"RadFM checkpoint: no tensors matching {pattern!r}")
    if found != set(range(len(found))):
        missing = sorted(set(range(max(found) + 1)) - found)
        raise ModelError(f"RadFM checkpoint: layer(s) {missing} missing among tensors matching {pattern!r}")
    return len(found)


def _divide(total: int, parts: int, what: str) -> int:
    if total % parts:
        raise ModelError(f"RadFM checkpoint: {what} ({total}) is not divisible by {parts}")
    return total // parts


def infer_shape(shapes: Mapping[str, Shape], llama: Mapping[str, object] | None = None) -> RadFMShape:
    """The architecture the tensors describe; ``llama`` is the LLaMA's config.json, if the folder has one."""
    settings = {**LLAMA_13B, **(llama or {})}
    vocab, hidden = _need(shapes, TOKEN_EMBEDDING, 2)
    heads = int(settings["num_attention_heads"])  # type: ignore[call-overload]
    head_dim = _divide(hidden, heads, "the LLaMA hidden size over its attention heads")
    kv_rows = _need(shapes, f"{LANGUAGE}model.layers.0.self_attn.k_proj.weight", 2)[0]
    language = LanguageShape(
        vocab=vocab,
        hidden=hidden,
        layers=_count(shapes, r"^lang_model\.model\.layers\.(\d+)\.self_attn\.q_proj\.weight$"),
        heads=heads,
        kv_heads=_divide(kv_rows, head_dim, "the LLaMA key projection over the head size"),
        intermediate=_need(shapes, f"{LANGUAGE}model.layers.0.mlp.gate_proj.weight", 2)[0],
        rms_norm_eps=float(settings["rms_norm_eps"]),  # type: ignore[arg-type]
        max_positions=int(settings["max_position_embeddings"]),  # type: ignore[call-overload]
        rope_theta=float(settings.get("rope_theta", 10000.0)),  # type: ignore[arg-type]
    )
    dim, patch_dim = _need(shapes, f"{VISION}to_patch_embedding.2.weight", 2)
    patch = math.isqrt(_divide(patch_dim, CHANNELS * FRAME_PATCH, "the vision patch size"))
    if CHANNELS * FRAME_PATCH * patch * patch != patch_dim:
        raise ModelError(f"RadFM checkpoint: vision patch size {patch_dim} is not 3 x 4 x a square")
    qkv = _need(shapes, f"{VISION}transformer.layers.0.0.fn.to_qkv.weight", 2)[0]
    vision = VisionShape(
        dim=dim,
        depth=_count(shapes, r"^embedding_layer\.vision_encoder\.transformer\.layers\.(\d+)\.0\.fn\.to_qkv\.weight$"),
        dim_head=_divide(_divide(qkv, 3, "the vision qkv projection"), VISION_HEADS, "the vision attention width"),
        mlp_dim=_need(shapes, f"{VISION}transformer.layers.0.1.fn.net.0.weight", 2)[0],
        patch=patch,
        rows=_need(shapes, f"{VISION}pos_embedding.row_embed.weight", 2)[0],
        cols=_need(shapes, f"{VISION}pos_embedding.col_embed.weight", 2)[0],
        frames=_need(shapes, f"{VISION}pos_embedding.dep_embed.weight", 2)[0],
    )
    latents, per_dim = _need(shapes, f"{PERCEIVER}latents", 2)
    perceiver = PerceiverShape(
        dim=per_dim,
        latents=latents,
        depth=_count(shapes, r"^embedding_layer\.perceiver\.layers\.(\d+)\.0\.to_q\.weight$"),
        dim_head=_divide(
            _need(shapes, f"{PERCEIVER}layers.0.0.to_q.weight", 2)[0], PERCEIVER_HEADS, "the perceiver query width"
        ),
        ff_dim=_need(shapes, f"{PERCEIVER}layers.0.1.1.weight", 2)[0],
    )
    return RadFMShape(language, vision, perceiver)


@dataclass(frozen=True)
class KeyReport:
    """How the checkpoint's tensors split: used, deliberately left out, and what is wrong."""

    used: list[str]
    left_out: list[str]
    missing: list[str]
    unexpected: list[str]
    wrong_shape: list[tuple[str, Shape, Shape]]

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.wrong_shape)

    def error(self, source: str) -> str:
        parts = []
        if self.missing:
            parts.append("missing: " + ", ".join(self.missing[:10]) + _more(self.missing))
        if self.unexpected:
            parts.append(
                "unexpected (neither used nor a known unused module): "
                + ", ".join(self.unexpected[:10])
                + _more(self.unexpected)
            )
        for key, found, wanted in self.wrong_shape[:10]:
            parts.append(f"{key} has shape {list(found)}, expected {list(wanted)}")
        return f"RadFM checkpoint {source} does not match the published layout: " + "; ".join(parts)


def _more(items: list[str]) -> str:
    return f" and {len(items) - 10} more" if len(items) > 10 else ""


def check_keys(shapes: Mapping[str, Shape], shape: RadFMShape) -> KeyReport:
    expected = shape.expected()
    used, left_out, unexpected, wrong = [], [], [], []
    for key, found in shapes.items():
        if key in expected:
            used.append(key)
            if tuple(found) != expected[key]:
                wrong.append((key, tuple(found), expected[key]))
        elif is_unused(key):
            left_out.append(key)
        else:
            unexpected.append(key)
    missing = sorted(set(expected) - set(shapes))
    return KeyReport(sorted(used), sorted(left_out), missing, sorted(unexpected), wrong)
