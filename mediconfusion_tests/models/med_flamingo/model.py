"""Med-Flamingo assembled: CLIP vision tower, perceiver, a LLaMA with gated cross-attention, strict loading.

Files: ``med-flamingo:PATH`` is a folder holding the published ``model.pt`` (perceiver,
cross-attention blocks, token embedding) and optionally ``vision/``, a CLIP ViT-L/14
vision checkpoint (default: ``openai/clip-vit-large-patch14`` from the hub, the same
weights as open_clip's ``ViT-L-14``/``openai``); the LLaMA-7B comes from ``--llama-path``
(transformers format), as the authors' code takes it. The tokenizer gains OpenFlamingo's
tokens ``<|endofchunk|>``, ``<image>`` and the pad ``<PAD>``, in that order.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from transformers.modeling_outputs import CausalLMOutputWithPast

from mediconfusion_tests.errors import ModelError
from mediconfusion_tests.models.hub_names import (
    MED_FLAMINGO_CHECKPOINT,
    MED_FLAMINGO_VISION,
    MED_FLAMINGO_VISION_FOLDER,
)
from mediconfusion_tests.models.med_flamingo.network import (
    ConditionedLayer,
    GatedCrossAttentionBlock,
    PerceiverResampler,
    cross_attention_layers,
)

if TYPE_CHECKING:
    from pathlib import Path

    from transformers import Cache, CLIPVisionModel, LlamaForCausalLM

CHECKPOINT = MED_FLAMINGO_CHECKPOINT
VISION_FOLDER = MED_FLAMINGO_VISION_FOLDER
DEFAULT_VISION = MED_FLAMINGO_VISION
ADDED_TOKENS = ("<|endofchunk|>", "<image>")
PAD_TOKEN = "<PAD>"  # noqa: S105 - a token, not a secret
CROSS_EVERY = 4
#: (published pattern, our name), first match wins; two spellings of each block exist (OpenFlamingo keeps
#: its blocks both in a list and inside the wrapped decoder layers).
ALIASES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^perceiver\.(.+)$"), r"perceiver.\1"),
    (re.compile(r"^lang_encoder\.gated_cross_attn_layers\.(\d+)\.(.+)$"), r"lang_encoder.model.layers.\1.block.\2"),
    (
        re.compile(r"^lang_encoder\.model\.layers\.(\d+)\.gated_cross_attn_layer\.(.+)$"),
        r"lang_encoder.model.layers.\1.block.\2",
    ),
    (re.compile(r"^lang_encoder\.model\.embed_tokens\.weight$"), "lang_encoder.model.embed_tokens.weight"),
    (re.compile(r"^lang_encoder\.lm_head\.weight$"), "lang_encoder.lm_head.weight"),
)
OPTIONAL = ("lang_encoder.lm_head.weight",)
#: A model.pt saved whole from OpenFlamingo also holds the LLaMA's own decoder layers, frozen in training, as
#: ``old_decoder_blocks.N`` (and, wrapped, ``model.layers.N.decoder_layer``). The authors' ``load_state_dict``
#: (strict=False) wrote them into those same layers: so do we, and count how many differ from --llama-path.
LLAMA_COPIES = re.compile(r"^lang_encoder\.(?:old_decoder_blocks\.(\d+)|model\.layers\.(\d+)\.decoder_layer)\.(.+)$")


def our_name(key: str) -> str:
    for pattern, name in ALIASES:
        if pattern.match(key):
            return pattern.sub(name, key)
    raise ModelError(
        f"Med-Flamingo {CHECKPOINT}: unknown tensor {key!r} (the checkpoint holds the perceiver, the gated "
        "cross-attention blocks and the token embedding only)"
    )


class MedFlamingo(nn.Module):
    def __init__(
        self, vision: CLIPVisionModel, language: LlamaForCausalLM, media_token_id: int, every: int = CROSS_EVERY
    ) -> None:
        super().__init__()
        self.vision_encoder = vision
        self.media_token_id = media_token_id
        dim_visual, dim = vision.config.hidden_size, language.config.hidden_size
        self.perceiver = PerceiverResampler(dim_visual)
        layers = language.model.layers
        self.conditioned: list[ConditionedLayer] = []
        for index in cross_attention_layers(len(layers), every):
            wrapped = ConditionedLayer(GatedCrossAttentionBlock(dim, dim_visual), layers[index])
            layers[index] = wrapped
            self.conditioned.append(wrapped)
        self.lang_encoder = language
        self.config = language.config

    @property
    def dtype(self) -> torch.dtype:
        parameter: torch.Tensor = next(self.lang_encoder.parameters())
        return parameter.dtype

    @property
    def device(self) -> torch.device:
        parameter: torch.Tensor = next(self.lang_encoder.parameters())
        return parameter.device

    def media(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """pixel_values (b, images, 3, h, w) -> the perceiver's latents (b, images, 64, d)"""
        batch, images = pixel_values.shape[:2]
        # Patch tokens before CLIP's final layer norm: open_clip's visual(x)[1] up to 2.22, what the published
        # weights were trained on (from 2.23 it applies ln_post first).
        tokens = self.vision_encoder(pixel_values=pixel_values.flatten(0, 1)).last_hidden_state[:, 1:]
        latents: torch.Tensor = self.perceiver(tokens.reshape(batch, images, *tokens.shape[1:]))
        return latents

    def _logits(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        media: torch.Tensor | None,
        text_time: torch.Tensor,
        positions: torch.Tensor,
        cache: Cache | None = None,
    ) -> torch.Tensor:
        """Logits of ``input_ids`` (the new tokens only when ``cache`` holds the ones before): ``attention_mask``
        covers cached and new tokens, ``text_time`` and ``positions`` the new ones."""
        # The cache goes fourth by position: transformers renamed it (past_key_values -> cache) within 5.x.
        out = self.lang_encoder(
            input_ids,
            attention_mask,
            positions,
            cache,
            use_cache=cache is not None,
            media=media,
            text_time=text_time,
        )
        logits: torch.Tensor = out.logits
        return logits

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        pixel_values: torch.Tensor | None = None,
        **_: object,
    ) -> CausalLMOutputWithPast:
        mask = attention_mask if attention_mask is not None else torch.ones_like(input_ids)
        media = None if pixel_values is None else self.media(pixel_values)
        logits = self._logits(input_ids, mask, media, self._text_time(input_ids), _positions(mask))
        return CausalLMOutputWithPast(logits=logits)

    def _text_time(self, input_ids: torch.Tensor) -> torch.Tensor:
        """How many ``<image>`` tokens each position has seen (itself included)."""
        return (input_ids == self.media_token_id).cumsum(dim=-1)

    @torch.no_grad()
    def generate(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        pixel_values: torch.Tensor | None = None,
        max_new_tokens: int = 32,
        do_sample: bool = False,
        temperature: float | None = None,
        top_p: float | None = None,
        pad_token_id: int | None = None,
        **_: object,
    ) -> torch.Tensor:
        """Greedy (or sampled) decoding with a key/value cache, the media encoded once; stops at end of sequence
        or ``<|endofchunk|>``, as the authors' generation did."""
        from transformers import DynamicCache

        media = None if pixel_values is None else self.media(pixel_values)
        stops = torch.tensor(
            sorted(s for s in (self.config.eos_token_id, self.endofchunk_id) if s is not None), device=input_ids.device
        )
        pad = pad_token_id if pad_token_id is not None else 0
        done = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        cache = DynamicCache(config=self.config)
        text_time = self._text_time(input_ids)
        step_ids, step_time, step_positions = input_ids, text_time, _positions(attention_mask)
        for _step in range(max_new_tokens):
            logits = self._logits(step_ids, attention_mask, media, step_time, step_positions, cache)[:, -1, :].float()
            if do_sample:
                probs = _nucleus(torch.softmax(logits / max(temperature or 1.0, 1e-6), dim=-1), top_p)
                token = torch.multinomial(probs, 1).squeeze(-1)
            else:
                token = logits.argmax(dim=-1)
            token = torch.where(done, torch.full_like(token, pad), token)
            input_ids = torch.cat([input_ids, token[:, None]], dim=-1)
            attention_mask = torch.cat([attention_mask, (~done).long()[:, None]], dim=-1)
            done |= torch.isin(token, stops)
            if bool(done.all()):
                break
            step_ids = token[:, None]
            step_time = step_time[:, -1:] + (step_ids == self.media_token_id).long()
            step_positions = _positions(attention_mask)[:, -1:]
        return input_ids

    endofchunk_id: int | None = None


def _positions(attention_mask: torch.Tensor) -> torch.Tensor:
    """Positions count real tokens only, so left padding changes nothing."""
    return (attention_mask.long().cumsum(dim=-1) - 1).clamp(min=0)


def _nucleus(probs: torch.Tensor, top_p: float | None) -> torch.Tensor:
    if top_p is None or top_p >= 1:
        return probs
    ordered, order = probs.sort(dim=-1, descending=True)
    keep = ordered.cumsum(dim=-1) - ordered < top_p
    ordered = ordered * keep
    return torch.zeros_like(probs).scatter(-1, order, ordered)


def load_checkpoint(path: Path) -> dict[str, torch.Tensor]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, ValueError) as exc:
        raise ModelError(f"{path}: cannot be read as a PyTorch checkpoint ({exc})") from None
    if isinstance(state, dict) and "model_state_dict" in state:
        state = state["model_state_dict"]
    if not isinstance(state, dict):
        raise ModelError(f"{path}: expected a state dict, got {type(state).__name__}")
    return state


def place(model: MedFlamingo, state: dict[str, torch.Tensor], dtype: torch.dtype) -> dict[str, Any]:
    """Every published tensor into its place, strictly: unknown keys, missing blocks and wrong shapes are errors."""
    own = model.state_dict()
    renamed: dict[str, torch.Tensor] = {}
    seen: dict[str, str] = {}
    copies = _llama_copies(state, own)
    for key, tensor in state.items():
        if key in copies:
            continue
        name = our_name(key)
        if name in seen and not torch.equal(renamed[name], tensor):
            raise ModelError(f"Med-Flamingo {CHECKPOINT}: {key!r} and {seen[name]!r} name one tensor but differ")
        seen.setdefault(name, key)
        renamed[name] = tensor
    unknown = sorted(set(renamed) - set(own))
    if unknown:
        raise ModelError(
            f"Med-Flamingo {CHECKPOINT}: {seen[unknown[0]]!r} has no place in the model ({unknown[0]!r}); "
            "are the LLaMA (--llama-path) and the checkpoint from the same OpenFlamingo-9B layout?"
        )
    ours = {k for k in own if k.startswith("perceiver.") or ".block." in k or k.endswith("embed_tokens.weight")}
    missing = sorted(ours - set(renamed))
    if missing:
        raise ModelError(f"Med-Flamingo {CHECKPOINT}: no tensor for {missing[0]!r} ({len(missing)} missing)")
    for name, tensor in renamed.items():
        if tuple(tensor.shape) != tuple(own[name].shape):
            raise ModelError(
                f"Med-Flamingo {CHECKPOINT}: {seen[name]!r} has shape {tuple(tensor.shape)}, the model expects "
                f"{tuple(own[name].shape)} (the tokenizer with OpenFlamingo's tokens has {own[name].shape[0]} rows)"
                if name.endswith("embed_tokens.weight")
                else f"Med-Flamingo {CHECKPOINT}: {seen[name]!r} has shape {tuple(tensor.shape)}, the model "
                f"expects {tuple(own[name].shape)}"
            )
    differ = [name for key, name in copies.items() if not torch.equal(own[name].float(), state[key].float())]
    renamed.update({name: state[key] for key, name in copies.items()})
    model.load_state_dict({k: v.to(dtype) for k, v in renamed.items()}, strict=False)
    groups = sorted({_group(k) for k in state})
    return {
        "checkpoint_keys": len(state),
        "key_groups": groups,
        "lm_head_from_checkpoint": OPTIONAL[0] in renamed,
        "llama_copies": len(copies),
        "llama_copies_differing": len(differ),
    }


def _llama_copies(state: dict[str, torch.Tensor], own: dict[str, torch.Tensor]) -> dict[str, str]:
    """{checkpoint key: our name} for the LLaMA decoder layers a whole OpenFlamingo save carries."""
    found = {}
    for key, tensor in state.items():
        match = LLAMA_COPIES.match(key)
        if match is None:
            continue
        index, rest = match.group(1) or match.group(2), match.group(3)
        candidates = (f"lang_encoder.model.layers.{index}.layer.{rest}", f"lang_encoder.model.layers.{index}.{rest}")
        name = next((c for c in candidates if c in own), None)
        if name is None or tuple(own[name].shape) != tuple(tensor.shape):
            raise ModelError(
                f"Med-Flamingo {CHECKPOINT}: {key!r} copies a LLaMA decoder layer that --llama-path does not have "
                "in that shape: are the checkpoint and the LLaMA from the same OpenFlamingo-9B layout?"
            )
        found[key] = name
    return found


def _group(key: str) -> str:
    """``lang_encoder.gated_cross_attn_layers.7.attn.to_q.weight`` -> ``lang_encoder.gated_cross_attn_layers.N.attn``"""
    parts = re.sub(r"\.\d+(?=\.)", ".N", key).split(".")
    return ".".join(parts[: min(len(parts) - 1, 4)])
