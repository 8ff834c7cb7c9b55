"""RadFM's modules, named as the published checkpoint names its tensors.

Module and ``nn.Sequential`` positions are chosen so that ``state_dict()`` keys
are exactly the checkpoint's (``to_patch_embedding.2.weight``, ``net.3.bias``...):
loading is then a plain strict ``load_state_dict``. What each piece computes:

- vision encoder: the scan (channels, height, width, depth) is cut into
  patch x patch x 4 cubes, each flattened in (row, col, depth, channel) order,
  layer-normed, projected and layer-normed again; a learned position per axis
  (row, column, depth, concatenated) is added; then pre-norm transformer layers
  (softmax attention, GELU MLP), no final norm;
- perceiver: learned latents attend, layer after layer, to the patches and to
  themselves (keys and values over both), each step added to the latents, then
  a feed-forward; a final layer norm;
- ``fc`` maps each latent into the language model's embedding space;
- embedding: token ids below the vocabulary are LLaMA tokens, the next two are
  ``<image>`` and ``</image>`` (``figure_token_weight``), and the rest index the
  projected latents of this example's images, in order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from torch.nn import functional as F

if TYPE_CHECKING:
    from transformers import LlamaForCausalLM
    from transformers.modeling_outputs import CausalLMOutputWithPast

    from mediconfusion_tests.models.radfm.shapes import PerceiverShape, RadFMShape, VisionShape


class CubePatches(nn.Module):
    """(batch, channels, H, W, D) -> (batch, patches, patch values); no parameters, as in the checkpoint."""

    def __init__(self, patch: int, frame_patch: int) -> None:
        super().__init__()
        self.patch = patch
        self.frame_patch = frame_patch

    def forward(self, scan: torch.Tensor) -> torch.Tensor:
        b, c, height, width, depth = scan.shape
        p, f = self.patch, self.frame_patch
        grid = scan.reshape(b, c, height // p, p, width // p, p, depth // f, f)
        # (b, c, h, p1, w, p2, d, pf) -> (b, h, w, d, p1, p2, pf, c)
        cubes = grid.permute(0, 2, 4, 6, 3, 5, 7, 1)
        return cubes.reshape(b, (height // p) * (width // p) * (depth // f), p * p * f * c)


class AxisPositions(nn.Module):
    """A learned embedding per row, column and depth slot, concatenated per patch."""

    def __init__(self, shape: VisionShape) -> None:
        super().__init__()
        self.row_embed = nn.Embedding(shape.rows, shape.position_dim)
        self.col_embed = nn.Embedding(shape.cols, shape.position_dim)
        self.dep_embed = nn.Embedding(shape.frames, shape.position_dim)

    def forward(self, rows: int, cols: int, depth: int) -> torch.Tensor:
        # A coarser grid than the table reads every k-th slot, ending on the last one: a single depth
        # slot (a 2D image repeated to depth 4) reads the last depth embedding.
        device = self.row_embed.weight.device

        def slots(count: int, table: nn.Embedding) -> torch.Tensor:
            return (torch.arange(count, device=device) + 1) * (table.num_embeddings // count) - 1

        row = self.row_embed(slots(rows, self.row_embed))[:, None, None, :].expand(rows, cols, depth, -1)
        col = self.col_embed(slots(cols, self.col_embed))[None, :, None, :].expand(rows, cols, depth, -1)
        dep = self.dep_embed(slots(depth, self.dep_embed))[None, None, :, :].expand(rows, cols, depth, -1)
        return torch.cat([row, col, dep], dim=-1).reshape(rows * cols * depth, -1)


class PreNorm(nn.Module):
    def __init__(self, dim: int, fn: nn.Module) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.fn(self.norm(x))
        return out


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float, fused: bool) -> torch.Tensor:
    """softmax(q k^T * scale) v. Unfused is the authors' arithmetic, bit for bit; fused (SDPA) is faster on a GPU
    and differs in the last bits (up to about 5e-7 per call in fp32 on a CPU), so it is opt-in."""
    if fused:
        return F.scaled_dot_product_attention(q, k, v, scale=scale)
    return torch.matmul(torch.softmax(torch.matmul(q, k.transpose(-1, -2)) * scale, dim=-1), v)


class SelfAttention(nn.Module):
    fused = False

    def __init__(self, dim: int, heads: int, dim_head: int) -> None:
        super().__init__()
        self.heads = heads
        self.scale = dim_head**-0.5
        self.to_qkv = nn.Linear(dim, 3 * heads * dim_head, bias=False)
        self.to_out = nn.Sequential(nn.Linear(heads * dim_head, dim), nn.Dropout(0.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        q, k, v = (t.reshape(b, n, self.heads, -1).transpose(1, 2) for t in self.to_qkv(x).chunk(3, dim=-1))
        out = attend(q, k, v, self.scale, self.fused).transpose(1, 2).reshape(b, n, -1)
        result: torch.Tensor = self.to_out(out)
        return result


class FeedForward(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(0.0), nn.Linear(hidden, dim), nn.Dropout(0.0)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(x)
        return out


class Encoder(nn.Module):
    def __init__(self, shape: VisionShape) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            nn.ModuleList(
                [
                    PreNorm(shape.dim, SelfAttention(shape.dim, shape.heads, shape.dim_head)),
                    PreNorm(shape.dim, FeedForward(shape.dim, shape.mlp_dim)),
                ]
            )
            for _ in range(shape.depth)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.layers:
            x = block[0](x) + x  # type: ignore[index]
            x = block[1](x) + x  # type: ignore[index]
        return x


class VisionEncoder(nn.Module):
    def __init__(self, shape: VisionShape) -> None:
        super().__init__()
        self.shape = shape
        self.to_patch_embedding = nn.Sequential(
            CubePatches(shape.patch, shape.frame_patch),
            nn.LayerNorm(shape.patch_dim),
            nn.Linear(shape.patch_dim, shape.dim),
            nn.LayerNorm(shape.dim),
        )
        self.pos_embedding = AxisPositions(shape)
        self.transformer = Encoder(shape)

    def forward(self, scans: torch.Tensor) -> torch.Tensor:
        """(images, channels, H, W, D) -> (images, patches, dim)."""
        _, _, height, width, depth = scans.shape
        x = self.to_patch_embedding(scans)
        x = x + self.pos_embedding(
            height // self.shape.patch, width // self.shape.patch, depth // self.shape.frame_patch
        )
        out: torch.Tensor = self.transformer(x)
        return out


class LatentAttention(nn.Module):
    fused = False

    def __init__(self, dim: int, heads: int, dim_head: int) -> None:
        super().__init__()
        self.heads = heads
        self.scale = dim_head**-0.5
        self.norm_media = nn.LayerNorm(dim)
        self.norm_latents = nn.LayerNorm(dim)
        self.to_q = nn.Linear(dim, heads * dim_head, bias=False)
        self.to_kv = nn.Linear(dim, 2 * heads * dim_head, bias=False)
        self.to_out = nn.Linear(heads * dim_head, dim, bias=False)

    def forward(self, media: torch.Tensor, latents: torch.Tensor) -> torch.Tensor:
        """media (b, patches, dim), latents (b, n, dim) -> the latents' update (b, n, dim)."""
        media = self.norm_media(media)
        latents = self.norm_latents(latents)
        b, n, _ = latents.shape

        def heads(t: torch.Tensor) -> torch.Tensor:
            return t.reshape(b, t.shape[1], self.heads, -1).transpose(1, 2)

        # The authors scale q before the product (not the product): kept, with a scale of 1 after it.
        q = heads(self.to_q(latents)) * self.scale
        k, v = (heads(t) for t in self.to_kv(torch.cat([media, latents], dim=1)).chunk(2, dim=-1))
        out = attend(q, k, v, 1.0, self.fused).transpose(1, 2).reshape(b, n, -1)
        result: torch.Tensor = self.to_out(out)
        return result


class Perceiver(nn.Module):
    def __init__(self, shape: PerceiverShape) -> None:
        super().__init__()
        self.latents = nn.Parameter(torch.zeros(shape.latents, shape.dim))
        self.layers = nn.ModuleList(
            nn.ModuleList(
                [
                    LatentAttention(shape.dim, shape.heads, shape.dim_head),
                    nn.Sequential(
                        nn.LayerNorm(shape.dim),
                        nn.Linear(shape.dim, shape.ff_dim, bias=False),
                        nn.GELU(),
                        nn.Linear(shape.ff_dim, shape.dim, bias=False),
                    ),
                ]
            )
            for _ in range(shape.depth)
        )
        self.norm = nn.LayerNorm(shape.dim)

    def forward(self, media: torch.Tensor) -> torch.Tensor:
        """(images, patches, dim) -> (images, latents, dim)."""
        latents = self.latents.unsqueeze(0).expand(media.shape[0], -1, -1)
        for block in self.layers:
            latents = block[0](media, latents) + latents  # type: ignore[index]
            latents = block[1](latents) + latents  # type: ignore[index]
        out: torch.Tensor = self.norm(latents)
        return out


class ImageEmbedding(nn.Module):
    """The checkpoint's ``embedding_layer`` minus what answering never runs; the token table is the LLaMA's."""

    def __init__(self, shape: RadFMShape) -> None:
        super().__init__()
        self.figure_token_weight = nn.Parameter(torch.zeros(2, shape.language.hidden))
        self.vision_encoder = VisionEncoder(shape.vision)
        self.perceiver = Perceiver(shape.perceiver)
        self.fc = nn.Linear(shape.perceiver.dim, shape.language.hidden)

    def image_embeddings(self, scans: torch.Tensor) -> torch.Tensor:
        """(images, channels, H, W, D) -> (images, latents, hidden): what the placeholder tokens become."""
        out: torch.Tensor = self.fc(self.perceiver(self.vision_encoder(scans)))
        return out


class RadFM(nn.Module):
    def __init__(self, shape: RadFMShape, lang_model: LlamaForCausalLM) -> None:
        super().__init__()
        self.shape = shape
        self.embedding_layer = ImageEmbedding(shape)
        self.lang_model = lang_model

    @property
    def vocab(self) -> int:
        return self.shape.language.vocab

    def embed(self, ids: torch.Tensor, scans: torch.Tensor, images_per_example: int = 1) -> torch.Tensor:
        """Input embeddings of ``ids`` (batch, length), ``images_per_example`` scans per row of ``ids``.

        Ids below the vocabulary read the LLaMA token table, the next two the
        figure tokens, the rest the example's image latents in order.
        """
        table = self.lang_model.get_input_embeddings().weight
        assert isinstance(table, torch.Tensor)  # noqa: S101 - narrows nn.Embedding's weight for mypy
        vision = self.embedding_layer.fc.weight
        images = self.embedding_layer.image_embeddings(scans.to(vision.device, vision.dtype))
        batch = ids.shape[0]
        ids = ids.to(table.device)
        per_example = images.reshape(batch, images_per_example * images.shape[1], -1).to(table.device, table.dtype)
        text = ids.clamp(max=self.vocab - 1)
        out = table[text]
        figure = (ids >= self.vocab) & (ids < self.vocab + 2)
        if figure.any():
            figures = self.embedding_layer.figure_token_weight.to(table.device, table.dtype)
            out[figure] = figures[ids[figure] - self.vocab]
        latent = ids >= self.vocab + 2
        if latent.any():
            rows = torch.arange(batch, device=ids.device)[:, None].expand_as(ids)[latent]
            out[latent] = per_example[rows, ids[latent] - self.vocab - 2]
        return out

    def forward(self, **kwargs: Any) -> CausalLMOutputWithPast:
        out: CausalLMOutputWithPast = self.lang_model(**kwargs)
        return out

    def use_attention(self, implementation: str | None) -> None:
        """``sdpa`` fuses the vision and perceiver attention and hands the name to the LLaMA, as any other
        implementation transformers knows; None keeps the authors' arithmetic and transformers' default."""
        if implementation is None:
            return
        fused = implementation != "eager"
        for module in self.modules():
            if isinstance(module, (SelfAttention, LatentAttention)):
                module.fused = fused
        self.lang_model.set_attn_implementation(implementation)


def language_model(shape: RadFMShape) -> LlamaForCausalLM:
    """LLaMA of the checkpoint's sizes, through current transformers."""
    from transformers import LlamaConfig, LlamaForCausalLM

    lang = shape.language
    config = LlamaConfig(
        vocab_size=lang.vocab,
        hidden_size=lang.hidden,
        intermediate_size=lang.intermediate,
        num_hidden_layers=lang.layers,
        num_attention_heads=lang.heads,
        num_key_value_heads=lang.kv_heads,
        rms_norm_eps=lang.rms_norm_eps,
        max_position_embeddings=lang.max_positions,
        rope_parameters={"rope_type": "default", "rope_theta": lang.rope_theta},
        tie_word_embeddings=False,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
    )
    return LlamaForCausalLM(config)


def build(shape: RadFMShape) -> RadFM:
    return RadFM(shape, language_model(shape))
