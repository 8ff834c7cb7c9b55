"""The original MediConfusion harness's calling code, written out for the differential test (test_fidelity).

Same semantics as github MShahabSepehri/MediConfusion ``Models/blip2.py``, ``instructblip.py``,
``llava.py`` (LLaVA-NeXT) and ``llama.py`` (Llama 3.2 Vision), ``utils/answering.py``: the processor
on one image and prompt, batch 1; greedy reads the last position's logits of the letters as encoded
alone and takes the argmax of their softmax (A on ties); prefix writes each option into its own
sequence, finds the family's encoding of the option at its last occurrence, takes a softmax over the
vocabulary there and gathers with a (1, n) index, the geometric mean of what that reads, B on ties;
mc generates with the model config's beams (greedy, 32 new tokens; LLaVA-NeXT and Llama: their
ask_question's 100), InstructBLIP with its repetition and length penalties. LLaVA's prefix path ends
in a leftover ``raise`` in the original; written here as it reads without it.
"""

from __future__ import annotations

from typing import Any

import torch

LETTERS = ("A", "B")
PLAIN = ("blip2", "instructblip")


def _prompt(family: str, processor: Any, question: str, image_first: bool) -> str:
    if family in PLAIN:
        return question
    parts = [{"type": "text", "text": question}, {"type": "image"}]
    if image_first:  # llama.py
        parts.reverse()
    text: str = processor.apply_chat_template([{"role": "user", "content": parts}], add_generation_prompt=True)
    return text


def inputs_for(family: str, processor: Any, question: str, image: Any) -> Any:
    if family == "mllama":
        text = _prompt(family, processor, question, image_first=True)
        return processor(image, text, add_special_tokens=False, return_tensors="pt")
    return processor(images=image, text=_prompt(family, processor, question, image_first=False), return_tensors="pt")


@torch.no_grad()
def greedy(family: str, model: Any, processor: Any, question: str, image: Any) -> str:
    inputs = inputs_for(family, processor, question, image)
    if family in PLAIN:
        token_ids = [
            processor.tokenizer(x, return_tensors="pt", add_special_tokens=False)["input_ids"] for x in LETTERS
        ]
        logits = model(**inputs).logits[0, -1, :].reshape(-1, 1)
    else:
        token_ids = [processor.tokenizer.encode(x, return_tensors="pt", add_special_tokens=False) for x in LETTERS]
        logits = model(**inputs).logits[0, -1, :]
    probs = torch.nn.Softmax(dim=0)(torch.cat([logits[x] for x in token_ids][: len(LETTERS)]))
    return LETTERS[int(probs.argmax().item())]


def _answer_tokens(family: str, tokenizer: Any, option: str) -> list[int]:
    if family == "blip2":
        return list(tokenizer.encode(" " + option, add_special_tokens=False))
    if family == "mllama":
        return list(tokenizer.encode(option, add_special_tokens=False))
    return list(tokenizer.encode(" " + option, add_special_tokens=False))[1:]


def _prefix_text(family: str, processor: Any, template: str, question: str, option: str) -> str:
    if family in PLAIN:
        return template.format(question, option)
    text = question if family != "mllama" else f"Question: {question}"
    conversation = [
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": text}]},
        {"role": "assistant", "content": [{"type": "text", "text": option}]},
    ]
    out: str = processor.apply_chat_template(conversation, add_generation_prompt=True)
    return out


@torch.no_grad()
def prefix(family: str, model: Any, processor: Any, problem: dict[str, str], image: Any) -> str | None:
    """None where the original raised ("Answer tokens not found in input_ids")."""
    scores = []
    for option in (problem["option_A"], problem["option_B"]):
        prompt = _prefix_text(family, processor, problem["format"], problem["question"], option)
        inputs = processor(images=image, text=prompt, return_tensors="pt")
        answer_tokens = _answer_tokens(family, processor.tokenizer, option)
        num_answer_tokens = len(answer_tokens)
        if num_answer_tokens == 0:
            return None  # the original divides by zero here
        input_ids = inputs["input_ids"]
        start_indices = [
            i
            for i in range(input_ids.size(1) - num_answer_tokens + 1)
            if torch.equal(input_ids[0, i : i + num_answer_tokens], torch.tensor(answer_tokens))
        ]
        if not start_indices:
            return None
        answer_start_from_back = start_indices[-1] - input_ids.size(1)
        logits = model(**inputs).logits[0, answer_start_from_back - 1 : answer_start_from_back - 1 + num_answer_tokens]
        probs = torch.nn.functional.softmax(logits, dim=-1)
        probs = torch.gather(probs, 1, torch.tensor(answer_tokens).unsqueeze(0))
        scores.append(torch.prod(probs.pow(1 / num_answer_tokens)).item())
    return "A" if scores[0] > scores[1] else "B"


MC_SETTINGS: dict[str, dict[str, Any]] = {
    "blip2": {"num_beams": 5, "max_new_tokens": 32},
    "instructblip": {
        "num_beams": 5,
        "max_new_tokens": 32,
        "min_length": 1,
        "repetition_penalty": 1.5,
        "length_penalty": 1,
    },
    "llava-next": {"num_beams": 1, "max_new_tokens": 100},
    "mllama": {"num_beams": 1, "max_new_tokens": 100},
}


@torch.no_grad()
def mc(family: str, model: Any, processor: Any, question: str, image: Any) -> str:
    """The generated continuation (new tokens, special tokens left out)."""
    inputs = inputs_for(family, processor, question, image)
    output = model.generate(**inputs, do_sample=False, **MC_SETTINGS[family])
    new: str = processor.tokenizer.decode(output[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    return new.strip()
