"""LLaVA-Med v1.5's published tensor names, and where each goes in transformers' ``LlavaForConditionalGeneration``.

The checkpoint is in the original LLaVA layout: the Mistral under ``model.*`` and
``lm_head``, the projector as ``model.mm_projector.{0,2}`` (Linear, GELU, Linear)
and the CLIP tower under ``model.vision_tower.vision_tower.vision_model.*``.
Keys are renamed while loading (no converted copy on disk). Loading is strict:
a key that matches no rule, or a tensor of the model that nothing fills, is an
error naming it; only buffers older transformers saved are dropped. No torch here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mediconfusion_tests.errors import ModelError

if TYPE_CHECKING:
    from collections.abc import Iterable

#: (published prefix, transformers prefix), first match wins.
RENAMES: tuple[tuple[str, str], ...] = (
    ("model.vision_tower.vision_tower.vision_model.", "model.vision_tower."),
    ("model.mm_projector.0.", "model.multi_modal_projector.linear_1."),
    ("model.mm_projector.2.", "model.multi_modal_projector.linear_2."),
    ("model.embed_tokens.", "model.language_model.embed_tokens."),
    ("model.layers.", "model.language_model.layers."),
    ("model.norm.", "model.language_model.norm."),
    ("lm_head.", "lm_head."),
)
#: Buffers older transformers saved with the weights; current ones compute them.
DROPPED = (
    re.compile(r"^model\.vision_tower\.vision_tower\.vision_model\.embeddings\.position_ids$"),
    re.compile(r"^model\.layers\.\d+\.self_attn\.rotary_emb\.inv_freq$"),
)


@dataclass(frozen=True)
class KeyPlan:
    renamed: dict[str, str]
    dropped: list[str]


def target(key: str) -> str | None:
    """The transformers name of a published key; None for a dropped buffer; ModelError for anything else."""
    if any(pattern.match(key) for pattern in DROPPED):
        return None
    for published, ours in RENAMES:
        if key.startswith(published):
            return ours + key[len(published) :]
    raise ModelError(f"LLaVA-Med checkpoint: unexpected tensor {key!r} (not part of the published layout)")


def plan(keys: Iterable[str], expected: Iterable[str]) -> KeyPlan:
    """Every published key renamed, checked against the model's own names both ways."""
    renamed: dict[str, str] = {}
    dropped: list[str] = []
    for key in keys:
        name = target(key)
        if name is None:
            dropped.append(key)
        else:
            renamed[key] = name
    wanted = set(expected)
    unknown = sorted(k for k, v in renamed.items() if v not in wanted)
    if unknown:
        raise ModelError(
            f"LLaVA-Med checkpoint: tensor {unknown[0]!r} maps to {renamed[unknown[0]]!r}, which the model does not "
            f"have ({len(unknown)} such tensor(s)); is this a LLaVA-Med v1.5 (Mistral) checkpoint?"
        )
    missing = sorted(wanted - set(renamed.values()))
    if missing:
        raise ModelError(
            f"LLaVA-Med checkpoint: no tensor for {missing[0]!r} ({len(missing)} missing); the files are incomplete"
        )
    return KeyPlan(renamed, dropped)
