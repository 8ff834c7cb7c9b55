"""How the original MediConfusion harness asked each model family, where it differs from our defaults.

Read from github MShahabSepehri/MediConfusion (``Models/*.py``, ``utils/answering.py``,
``configs/Models/*/vanilla.json``). Each rule says, per family:

- which tokens prefix mode scores (``do_prefix_forward``'s ``answer_tokens``), found at their last
  occurrence in the prompt+option ids;
- how the prefix sequence is written (the prompt file's template with the option, or a chat
  conversation whose assistant turn is the option);
- how greedy/mc/freeform prompts are laid out with the paper's prompt file (LLaVA put the text
  before the image; Llama 3.2 Vision encoded without special tokens);
- the generation settings of ``--generation=paper``: in mc, ``BaseAnsweringModel.set_model_params``
  overrides the config for every family (temperature 0, one beam, top_p none, 32 new tokens); then
  ``InstructBLIPAnswering`` raises a temperature of 0 to 0.1 and ``Models/instructblip.py`` samples
  (``do_sample=temperature > 0``, repetition penalty 1.5), and LLaVA-NeXT's and Llama's answering
  classes do not pass the 32 on (their ``ask_question`` defaults to 100). Free-form uses each config;
- the dtype the model was loaded in (``--dtype=paper``): no ``torch_dtype`` for BLIP-2, InstructBLIP
  and LLaVA-NeXT, which under the transformers the harness pinned (4.x) meant float32; bfloat16 for
  Llama 3.2 Vision (``Models/llama.py``); float16 for LLaVA-Med (its builder's default, images
  ``.half()``); float32 for RadFM and Med-Flamingo (their state dicts loaded into float32 modules).

Scoring as the original computed it: a softmax over the vocabulary at the positions before the
option tokens, then ``torch.gather(probs, 1, ids.unsqueeze(0))``, which reads every option token from
the *first* of those rows, and the geometric mean of what it read; B wins ties. ``score_as_paper``
does exactly that on one row, in the logits' own dtype (the original's softmax, ``pow`` and ``prod``
ran in the model's dtype: bfloat16 for Llama 3.2 Vision), as ``letters_as_paper`` does greedy's
two-letter softmax and ``argmax`` (A on ties).
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    import torch

    from mediconfusion_tests.scoring.letters import Letter

#: "space": encode(" " + option); "space-drop-first": encode(" " + option)[1:]; "bare": encode(option).
TokenRule = Literal["space", "space-drop-first", "bare"]


@dataclass(frozen=True)
class PaperRule:
    family: str
    #: The original's model file, for messages and the README's fidelity table.
    source: str
    option_tokens: TokenRule
    #: Prefix sequence as a conversation (user: image + question, assistant: option), else prompt + option.
    conversation: bool = False
    #: With the paper's prompts, the prefix prompt built from the bare question like this; None: the
    #: prompt file's prefix template (BLIP-2, InstructBLIP, RadFM and Med-Flamingo read it, LLaVA did not).
    prefix_question: str | None = None
    #: greedy/mc/freeform with the paper's prompts: the text part before the image part.
    text_before_image: bool = False
    #: greedy/mc/freeform with the paper's prompts: the processor adds no special tokens.
    no_special_tokens: bool = False
    mc_generation: dict[str, Any] = field(default_factory=dict)
    freeform_generation: dict[str, Any] = field(default_factory=dict)
    #: The dtype the original loaded the model in (--dtype=paper): fp32, bf16 or fp16.
    dtype: str = "fp32"

    def option_ids(self, encode: Callable[[str], Sequence[int]], option: str) -> list[int]:
        """``encode(text)`` is the tokenizer's ``encode(text, add_special_tokens=False)``."""
        if self.option_tokens == "bare":
            return list(encode(option))
        ids = list(encode(" " + option))
        return ids[1:] if self.option_tokens == "space-drop-first" else ids

    def generation(self, mode: str) -> dict[str, Any]:
        return dict(self.mc_generation if mode == "mc" else self.freeform_generation)


def _mc(num_beams: int = 1, max_new_tokens: int = 32, **extra: float) -> dict[str, Any]:
    return {"do_sample": False, "num_beams": num_beams, "max_new_tokens": max_new_tokens, **extra}


def _free(
    temperature: float, top_p: float | None, num_beams: int, max_new_tokens: int, **extra: float
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "do_sample": temperature > 0,
        "num_beams": num_beams,
        "max_new_tokens": max_new_tokens,
        **extra,
    }
    if temperature > 0:
        out["temperature"] = temperature
        if top_p is not None:
            out["top_p"] = top_p
    return out


_INSTRUCTBLIP_EXTRA: dict[str, float] = {"repetition_penalty": 1.5, "length_penalty": 1.0, "min_length": 1}
#: InstructBLIP's mc: set_model_params' temperature 0 raised to 0.1 by its answering class, so sampled.
_INSTRUCTBLIP_MC = {"do_sample": True, "temperature": 0.1, "num_beams": 1, "max_new_tokens": 32, **_INSTRUCTBLIP_EXTRA}
# LLaVA-NeXT and Llama 3.2 Vision: the answering class does not pass its 32 on to ask_question,
# whose default is 100 new tokens; their configs hold temperature 0.2, one beam.
_LLAVA_MC = _mc(1, 100)
_LLAVA_FREE = _free(0.2, None, 1, 100)

_LLAVA_NEXT = PaperRule(
    "llava-next",
    "Models/llava.py",
    "space-drop-first",
    conversation=True,
    prefix_question="{question}",
    text_before_image=True,
    mc_generation=_LLAVA_MC,
    freeform_generation=_LLAVA_FREE,
)

RULES: dict[str, PaperRule] = {
    rule.family: rule
    for rule in (
        PaperRule(
            "blip2",
            "Models/blip2.py",
            "space",
            mc_generation=_mc(1, 32),
            freeform_generation=_free(1.0, 0.9, 5, 30),
        ),
        PaperRule(
            "instructblip",
            "Models/instructblip.py",
            "space-drop-first",
            mc_generation=_INSTRUCTBLIP_MC,
            freeform_generation=_free(1.0, 0.9, 5, 128, **_INSTRUCTBLIP_EXTRA),
        ),
        _LLAVA_NEXT,
        replace(_LLAVA_NEXT, family="llava"),
        PaperRule(
            "mllama",
            "Models/llama.py",
            "bare",
            conversation=True,
            prefix_question="Question: {question}",
            no_special_tokens=True,
            mc_generation=_LLAVA_MC,
            freeform_generation=_LLAVA_FREE,
            dtype="bf16",
        ),
        PaperRule(
            "llava-med",
            "Models/llava_med.py",
            "space-drop-first",
            prefix_question="{question}",
            mc_generation=_mc(1, 32),
            freeform_generation=_free(0.2, None, 1, 100),
            dtype="fp16",
        ),
        PaperRule(
            "med-flamingo",
            "Models/med_flamingo.py",
            "space-drop-first",
            # Its ask_question passes only the length on to generate: greedy, the config's 10 tokens free-form.
            mc_generation=_mc(1, 32),
            freeform_generation=_mc(1, 10),
        ),
        PaperRule("radfm", "Models/radfm.py", "space-drop-first"),
    )
}


def rule_for(family: str) -> PaperRule | None:
    return RULES.get(family)


def last_occurrence(sequence: Sequence[int], tokens: Sequence[int]) -> int | None:
    """Start of the last place ``tokens`` stand in ``sequence`` (the original's sliding search)."""
    width = len(tokens)
    if width == 0:
        return None
    target = list(tokens)
    for start in range(len(sequence) - width, -1, -1):
        if list(sequence[start : start + width]) == target:
            return start
    return None


def paper_dtype(family: str | None, fallback: str = "auto") -> str:
    """--dtype=paper for a family: the dtype the original loaded it in, else ``fallback``."""
    rule = RULES.get(family or "")
    return rule.dtype if rule is not None else fallback


def score_as_paper(row_logits: torch.Tensor, tokens: Sequence[int]) -> float:
    """The original's prefix score from the logits row before the option's first token.

    ``softmax`` over the vocabulary, every option token read from that one row (what its
    ``torch.gather`` with a (1, n) index does), geometric mean as a product of n-th roots; all in
    the logits' dtype, as the original's arithmetic ran in the model's.
    """
    import torch

    probs = torch.softmax(row_logits, dim=-1)
    picked = probs[torch.tensor(list(tokens), device=probs.device)].unsqueeze(0)
    return float(torch.prod(picked.pow(1 / len(tokens))).item())


def letters_as_paper(row_logits: torch.Tensor, ids: Sequence[int]) -> tuple[Letter, dict[str, float]]:
    """The original greedy: softmax over the two letters' logits in the logits' dtype, ``argmax`` (the
    first of equal values: A on ties). Returns the letter and the two probabilities."""
    import torch

    pair = row_logits[torch.tensor(list(ids), device=row_logits.device)]
    probs = torch.softmax(pair, dim=0)
    letter: Letter = "A" if int(probs.argmax().item()) == 0 else "B"
    return letter, {"A": float(probs[0].item()), "B": float(probs[1].item())}


def decide_as_paper(score_a: float, score_b: float) -> Letter:
    """``"A" if scores[0] > scores[1] else "B"``: B on ties."""
    return "A" if score_a > score_b else "B"


def as_log(score: float) -> float:
    """A paper score as a log-probability, finite also when the probability underflowed to 0."""
    return math.log(max(score, sys.float_info.min * sys.float_info.epsilon))
