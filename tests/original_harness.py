"""The original MediConfusion harness's calling code, written out for the differential test (test_fidelity).

Same semantics as github MShahabSepehri/MediConfusion ``Models/blip2.py``, ``instructblip.py``,
``llava.py`` (LLaVA-NeXT) and ``llama.py`` (Llama 3.2 Vision), ``utils/answering.py``: the processor
on one image and prompt, batch 1; greedy reads the last position's logits of the letters as encoded
alone and takes the argmax of their softmax (A on ties); prefix writes each option into its own
sequence, finds the family's encoding of the option at its last occurrence, takes a softmax over the
vocabulary there and gathers with a (1, n) index, the geometric mean of what that reads, B on ties;
all arithmetic in the model's dtype (``load`` loads each family in the dtype the original did: bfloat16
for Llama 3.2 Vision, float32 for the others). mc generates with ``set_model_params``' overrides (one
beam, temperature 0, 32 new tokens; LLaVA-NeXT and Llama: their ask_question's 100), InstructBLIP
sampled at its answering class's temperature 0.1 with its repetition and length penalties, its inputs
cast to float16 (``Models/instructblip.py``). LLaVA's prefix path ends in a leftover ``raise`` in the
original; written here as it reads without it. The real code is compared with as well, when
MEDICONFUSION_HARNESS_DIR names a checkout of it (tests/real_harness.py).
"""

from __future__ import annotations

from typing import Any

import torch

LETTERS = ("A", "B")
PLAIN = ("blip2", "instructblip")
#: The dtype each family's Models/*.py loaded the model in (none given: float32 under transformers 4.x).
DTYPES = {"blip2": torch.float32, "instructblip": torch.float32, "llava-next": torch.float32, "mllama": torch.bfloat16}


def load(family: str, folder: Any) -> tuple[Any, Any]:
    from transformers import AutoModelForImageTextToText, AutoProcessor

    processor = AutoProcessor.from_pretrained(folder)
    model = AutoModelForImageTextToText.from_pretrained(folder, dtype=DTYPES[family]).eval()
    return processor, model


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
    inputs = processor(images=image, text=_prompt(family, processor, question, image_first=False), return_tensors="pt")
    # Models/instructblip.py: .to(device=device, dtype=torch.float16), on every floating input.
    return inputs.to(dtype=torch.float16) if family == "instructblip" else inputs


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
        if family == "instructblip":
            inputs = inputs.to(dtype=torch.float16)
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


#: set_model_params in mc: temperature 0, one beam, top_p none, 32 new tokens; InstructBLIP's class then
#: raises the temperature to 0.1 (sampled); LLaVA-NeXT's and Llama's classes do not pass the 32 on.
MC_SETTINGS: dict[str, dict[str, Any]] = {
    "blip2": {"do_sample": False, "num_beams": 1, "max_new_tokens": 32},
    "instructblip": {
        "do_sample": True,
        "temperature": 0.1,
        "num_beams": 1,
        "max_new_tokens": 32,
        "min_length": 1,
        "repetition_penalty": 1.5,
        "length_penalty": 1,
    },
    "llava-next": {"do_sample": False, "num_beams": 1, "max_new_tokens": 100},
    "mllama": {"do_sample": False, "num_beams": 1, "max_new_tokens": 100},
}


@torch.no_grad()
def mc(family: str, model: Any, processor: Any, question: str, image: Any, seed: int = 0) -> str:
    """The generated continuation (new tokens, special tokens left out); a sampled one drawn from ``seed``."""
    inputs = inputs_for(family, processor, question, image)
    torch.manual_seed(seed)
    output = model.generate(**inputs, **MC_SETTINGS[family])
    new: str = processor.tokenizer.decode(output[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    return new.strip()
