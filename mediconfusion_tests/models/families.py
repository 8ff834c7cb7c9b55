"""Family quirks of vision-language checkpoints, each in one named place.

The generic adapter asks the family how to phrase a prompt (the checkpoint's
chat template, or a plain string for BLIP-2-style models without one), how to
pass images (flat or nested per example), which inputs pad on the right, and
whether the processor must be assembled by hand (Qwen2-VL without torchvision).
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Inputs aligned with input_ids: padded on the left with the batch.
SEQUENCE_KEYS = frozenset(
    {"input_ids", "attention_mask", "token_type_ids", "mm_token_type_ids", "cross_attention_mask", "labels"}
)


@dataclass(frozen=True)
class Family:
    name: str
    model_types: tuple[str, ...]
    #: "chat": the checkpoint's chat template; "plain": ``plain_template`` with {prompt}
    #: around our built-in prompts (prompts from the paper's file are used as they are).
    prompt_style: str = "chat"
    plain_template: str = "{prompt}"
    #: Plain families whose processor wants the image token written in the text (PaliGemma).
    image_marker: str = ""
    #: Gemma 3, Mllama, Idefics3 and SmolVLM take a list of images per example.
    nested_images: bool = False
    #: Inputs of a BERT-like side encoder, which needs right padding (absolute positions).
    right_padded: frozenset[str] = field(default_factory=frozenset)
    #: Qwen2-VL/2.5-VL: expand the image placeholder ourselves when the processor cannot load.
    expands_image_tokens: bool = False
    #: Key of this family in the paper's prompt file (prompts.<mode>.<key>).
    prompt_key: str = "default"
    #: prefix mode: compute prompt and image once for both options (a shared key/value cache).
    #: Only where tests show scores equal to scoring each prompt+option sequence whole.
    shares_prompt_cache: bool = False


GENERIC = Family("generic", ())
FAMILIES: tuple[Family, ...] = (
    Family("llava", ("llava",), prompt_key="llava", shares_prompt_cache=True),
    Family("llava-next", ("llava_next",), prompt_key="llava", shares_prompt_cache=True),
    Family("blip2", ("blip-2",), prompt_style="plain", plain_template="Question: {prompt} Answer:", prompt_key="blip2"),
    Family(
        "instructblip",
        ("instructblip",),
        prompt_style="plain",
        plain_template="Question: {prompt} Answer:",
        right_padded=frozenset({"qformer_input_ids", "qformer_attention_mask"}),
        prompt_key="instructblip",
    ),
    Family("mllama", ("mllama",), nested_images=True, prompt_key="llama", shares_prompt_cache=True),
    Family("gemma3", ("gemma3",), nested_images=True, shares_prompt_cache=True),
    Family("qwen2-vl", ("qwen2_vl", "qwen2_5_vl"), expands_image_tokens=True),
    Family("idefics3", ("idefics3", "smolvlm"), nested_images=True, shares_prompt_cache=True),
    Family(
        "paligemma", ("paligemma",), prompt_style="plain", plain_template="answer en {prompt}", image_marker="<image>"
    ),
    Family("molmo2", ("molmo2",)),
)
BY_NAME = {family.name: family for family in FAMILIES}


def family_for(model_type: str | None, name: str | None = None) -> Family:
    """A family by explicit name (presets), else by the config's model_type; generic otherwise."""
    if name is not None:
        return BY_NAME[name]
    for family in FAMILIES:
        if model_type in family.model_types:
            return family
    return GENERIC
