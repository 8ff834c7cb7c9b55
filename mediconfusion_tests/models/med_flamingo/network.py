"""Med-Flamingo's modules, written from what OpenFlamingo computes (github mlfoundations/open_flamingo).

* Vision: CLIP ViT-L/14 at 224 px; each image's patch tokens (256, the last layer's output before CLIP's
  final norm).
* Perceiver resampler: 64 learned latents attend to the patch tokens and themselves (keys and values
  from both), 6 layers of attention and a feed-forward (LayerNorm, Linear, GELU, Linear; no biases), each
  added back, then a LayerNorm; 8 heads of 64.
* Gated cross-attention, before every fourth LLaMA decoder layer (indices 3, 7, ...): text attends to the
  latents of the *last image before it* (the ``<image>`` tokens so far, counted; text before any image
  attends to nothing), the result times ``tanh(attn_gate)`` added back; then a feed-forward times
  ``tanh(ff_gate)``. Attention scores are shifted by their row maximum before the softmax, as there.
Module and parameter names are the checkpoint's, so loading is a strict key match.
"""

from __future__ import annotations

import torch
from torch import nn


def feed_forward(dim: int, mult: int = 4) -> nn.Sequential:
    inner = dim * mult
    return nn.Sequential(
        nn.LayerNorm(dim), nn.Linear(dim, inner, bias=False), nn.GELU(), nn.Linear(inner, dim, bias=False)
    )


def _heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """(..., n, heads * d) -> (..., heads, n, d)"""
    *lead, n, width = x.shape
    return x.reshape(*lead, n, heads, width // heads).transpose(-3, -2)


def _merge(x: torch.Tensor) -> torch.Tensor:
    """(..., heads, n, d) -> (..., n, heads * d)"""
    x = x.transpose(-3, -2)
    return x.reshape(*x.shape[:-2], x.shape[-2] * x.shape[-1])


def _stable_softmax(sim: torch.Tensor) -> torch.Tensor:
    return (sim - sim.amax(dim=-1, keepdim=True).detach()).softmax(dim=-1)


class PerceiverAttention(nn.Module):
    def __init__(self, dim: int, dim_head: int = 64, heads: int = 8) -> None:
        super().__init__()
        inner = dim_head * heads
        self.heads, self.scale = heads, dim_head**-0.5
        self.norm_media = nn.LayerNorm(dim)
        self.norm_latents = nn.LayerNorm(dim)
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_kv = nn.Linear(dim, inner * 2, bias=False)
        self.to_out = nn.Linear(inner, dim, bias=False)

    def forward(self, media: torch.Tensor, latents: torch.Tensor) -> torch.Tensor:
        """media (b, t, n, d), latents (b, t, m, d) -> (b, t, m, d)"""
        media, latents = self.norm_media(media), self.norm_latents(latents)
        q = _heads(self.to_q(latents), self.heads) * self.scale
        k, v = self.to_kv(torch.cat((media, latents), dim=-2)).chunk(2, dim=-1)
        k, v = _heads(k, self.heads), _heads(v, self.heads)
        attention = _stable_softmax(q @ k.transpose(-1, -2))
        out: torch.Tensor = self.to_out(_merge(attention @ v))
        return out


class PerceiverResampler(nn.Module):
    def __init__(self, dim: int, depth: int = 6, dim_head: int = 64, heads: int = 8, num_latents: int = 64) -> None:
        super().__init__()
        self.latents = nn.Parameter(torch.zeros(num_latents, dim))
        self.layers = nn.ModuleList(
            [nn.ModuleList([PerceiverAttention(dim, dim_head, heads), feed_forward(dim)]) for _ in range(depth)]
        )
        self.norm = nn.LayerNorm(dim)

    def forward(self, media: torch.Tensor) -> torch.Tensor:
        """media (b, t, n, d): t images of n tokens -> (b, t, latents, d)"""
        latents = self.latents.expand(media.shape[0], media.shape[1], *self.latents.shape)
        for pair in self.layers:
            attention, ff = list(pair.children())
            latents = attention(media, latents) + latents
            latents = ff(latents) + latents
        normed: torch.Tensor = self.norm(latents)
        return normed


class MaskedCrossAttention(nn.Module):
    def __init__(self, dim: int, dim_visual: int, dim_head: int = 64, heads: int = 8) -> None:
        super().__init__()
        inner = dim_head * heads
        self.heads, self.scale = heads, dim_head**-0.5
        self.norm = nn.LayerNorm(dim)
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_kv = nn.Linear(dim_visual, inner * 2, bias=False)
        self.to_out = nn.Linear(inner, dim, bias=False)

    def forward(self, x: torch.Tensor, media: torch.Tensor, text_time: torch.Tensor) -> torch.Tensor:
        """x (b, s, dim); media (b, t, m, dv); text_time (b, s): the number of images up to each position."""
        count, per_image = media.shape[1], media.shape[2]
        q = _heads(self.to_q(self.norm(x)), self.heads) * self.scale
        k, v = self.to_kv(media.flatten(1, 2)).chunk(2, dim=-1)
        k, v = _heads(k, self.heads), _heads(v, self.heads)
        sim = q @ k.transpose(-1, -2)  # (b, h, s, t * m)
        media_time = torch.arange(1, count + 1, device=x.device).repeat_interleave(per_image)
        allowed = text_time[:, None, :, None] == media_time[None, None, None, :]
        sim = sim.masked_fill(~allowed, -torch.finfo(sim.dtype).max)
        attention = _stable_softmax(sim)
        # Text before the first image attends to nothing (its row would otherwise be uniform).
        attention = attention.masked_fill((text_time == 0)[:, None, :, None], 0.0)
        out: torch.Tensor = self.to_out(_merge(attention @ v))
        return out


class GatedCrossAttentionBlock(nn.Module):
    def __init__(self, dim: int, dim_visual: int, dim_head: int = 64, heads: int = 8) -> None:
        super().__init__()
        self.attn = MaskedCrossAttention(dim, dim_visual, dim_head, heads)
        self.attn_gate = nn.Parameter(torch.zeros(1))
        self.ff = feed_forward(dim)
        self.ff_gate = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor, media: torch.Tensor, text_time: torch.Tensor) -> torch.Tensor:
        x = self.attn(x, media, text_time) * self.attn_gate.tanh() + x
        out: torch.Tensor = self.ff(x) * self.ff_gate.tanh() + x
        return out


class ConditionedLayer(nn.Module):
    """A LLaMA decoder layer with its gated cross-attention block in front.

    The media and each position's image count arrive as keyword arguments of the language model's forward,
    which transformers hands on to every decoder layer; without them the block is skipped.
    """

    def __init__(self, block: GatedCrossAttentionBlock, layer: nn.Module) -> None:
        super().__init__()
        self.block = block
        self.layer = layer
        # transformers reads the layer's index and type from it.
        for name in ("attention_type", "self_attn"):
            if hasattr(layer, name):
                setattr(self, name, getattr(layer, name))

    def forward(
        self,
        hidden_states: torch.Tensor,
        *args: object,
        media: torch.Tensor | None = None,
        text_time: torch.Tensor | None = None,
        **kwargs: object,
    ) -> torch.Tensor:
        if media is not None and text_time is not None:
            hidden_states = self.block(hidden_states, media, text_time)
        out: torch.Tensor = self.layer(hidden_states, *args, **kwargs)
        return out


def cross_attention_layers(layers: int, every: int = 4) -> list[int]:
    """The decoder layers with a block in front: every ``every``-th, counting from 1 (3, 7, ... for 4)."""
    return [index for index in range(layers) if (index + 1) % every == 0]
