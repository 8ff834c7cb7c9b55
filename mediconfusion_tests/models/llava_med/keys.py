"""LLaVA-Med v1.5's published tensor names, and where each goes in transformers' ``LlavaForConditionalGeneration``.

The checkpoint is in the original LLaVA layout: the Mistral under ``model.*`` and
``lm_head``, the projector as ``model.mm_projector.{0,2}`` (Linear, GELU, Linear)
and the CLIP tower under ``model.vision_tower.vision_tower.vision_model.*``.
transformers renames the keys while loading (``from_pretrained(key_mapping=KEY_MAPPING)``,
no converted copy on disk); :func:`check` then holds its loading report to the
published layout: a key that matches no rule, a tensor the model does not have,
one nothing fills or one of the wrong shape is an error naming the published key.
Only buffers older transformers saved are let through. No torch here.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from mediconfusion_tests.errors import ModelError

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

#: Published prefix (a regular expression, as ``key_mapping`` takes it) -> transformers prefix; the first match
#: wins, as in transformers. ``lm_head.*`` keeps its name.
KEY_MAPPING: dict[str, str] = {
    r"^model\.vision_tower\.vision_tower\.vision_model\.": "model.vision_tower.",
    r"^model\.mm_projector\.0\.": "model.multi_modal_projector.linear_1.",
    r"^model\.mm_projector\.2\.": "model.multi_modal_projector.linear_2.",
    r"^model\.(embed_tokens|layers|norm)\.": r"model.language_model.\1.",
}
KEPT = re.compile(r"^lm_head\.")
#: Buffers older transformers saved with the weights; current ones compute them.
DROPPED = (
    re.compile(r"^model\.vision_tower\.vision_tower\.vision_model\.embeddings\.position_ids$"),
    re.compile(r"^model\.layers\.\d+\.self_attn\.rotary_emb\.inv_freq$"),
)


def target(key: str) -> str | None:
    """The transformers name of a published key; None for a dropped buffer; ModelError for anything else."""
    if any(pattern.match(key) for pattern in DROPPED):
        return None
    if KEPT.match(key):
        return key
    for published, ours in KEY_MAPPING.items():
        renamed, count = re.subn(published, ours, key, count=1)
        if count:
            return renamed
    raise ModelError(f"LLaVA-Med checkpoint: unexpected tensor {key!r} (not part of the published layout)")


def check(info: Mapping[str, Any], published: Iterable[str]) -> list[str]:
    """``from_pretrained``'s loading report held to the published layout; the dropped buffers, listed."""
    keys = list(published)
    dropped = [k for k in keys if any(pattern.match(k) for pattern in DROPPED)]
    renamed = {name: key for key in keys if key not in dropped and (name := target(key)) is not None}
    unexpected = sorted(renamed.get(name, name) for name in info.get("unexpected_keys", ()))
    unexpected = [key for key in unexpected if key not in dropped]
    if unexpected:
        first = unexpected[0]
        ours = target(first)  # raises for a key outside the published layout
        raise ModelError(
            f"LLaVA-Med checkpoint: tensor {first!r} maps to {ours!r}, which the model does not "
            f"have ({len(unexpected)} such tensor(s)); is this a LLaVA-Med v1.5 (Mistral) checkpoint?"
        )
    missing = sorted(info.get("missing_keys", ()))
    if missing:
        raise ModelError(
            f"LLaVA-Med checkpoint: no tensor for {missing[0]!r} ({len(missing)} missing); the files are incomplete"
        )
    mismatched = sorted(info.get("mismatched_keys", ()))
    if mismatched:
        name, stored, wanted = mismatched[0]
        raise ModelError(
            f"LLaVA-Med checkpoint: {renamed.get(name, name)!r} has shape {tuple(stored)}, the model expects "
            f"{tuple(wanted)} for {name!r}"
        )
    errors = list(info.get("error_msgs", ()))
    if errors:
        raise ModelError(f"LLaVA-Med checkpoint: {errors[0]}")
    return dropped
