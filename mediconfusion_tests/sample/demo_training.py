"""Teaching the demo LLaVA to look: a few hundred steps on synthetic scenes that are not the sample's.

The training images are drawn by the same painters as the sample benchmark but
with other local ids (so other textures) and every combination of findings; the
sample's own images are never seen. The questions and options are the sample's,
asked in the suite's own mc and greedy prompt formats, with the right letter as
the target; each question is taught with its options in one order only, so the
model learns a letter per finding rather than reading the options, the shortcut
real models take, which the sample's pair with swapped options exposes. 600
steps (about 25 s on two CPU cores) teach it some findings and not others, so
the demo shows the outcomes the suite reports: pairs passed, confused and wrong.
Training uses two threads and a fixed seed; weights may still differ slightly
between CPUs, and are built once per machine and cached.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mediconfusion_tests.prompts import BUILTIN_TEMPLATES
from mediconfusion_tests.sample.benchmark import PAIRS, SCENES
from mediconfusion_tests.sample.scenes import draw_scene, every_scene, kind_of

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from PIL import Image

#: Below about 450 steps it learns only the answer format (every pair confused); 600 leave a margin.
STEPS = 600
#: Threads used while training: the weights depend on the summation order, so one thread gives the same
#: model on every machine (about 40 s on one core) and leaves other cores to xdist workers waiting for it.
THREADS = 1
BATCH = 16
LEARNING_RATE = 1e-3
SEED = 0
#: Training images get local ids from here on: never one of the sample's (900xx).
FIRST_TRAINING_ID = 70000
REPEATS = 3
MODES = ("mc", "greedy")


@dataclass(frozen=True)
class Example:
    prompt: str
    image: Image.Image
    letter: str


def training_examples() -> list[Example]:
    examples: list[Example] = []
    local_id = FIRST_TRAINING_ID
    taught: set[str] = set()
    for pair in PAIRS:
        if pair.question in taught:
            continue  # each question is taught with its options in one order only (see the module's note)
        taught.add(pair.question)
        for spec in every_scene(kind_of(pair.attribute)):
            value = spec.get(pair.attribute)
            letters = [letter for letter, option in zip("AB", pair.options, strict=True) if value in option.values]
            if len(letters) != 1:
                continue  # a finding this question has no option for
            for _ in range(REPEATS):
                image = draw_scene(local_id, spec)
                local_id += 1
                for mode in MODES:
                    prompt = BUILTIN_TEMPLATES[mode].format(
                        question=pair.question, option_a=pair.options[0].text, option_b=pair.options[1].text
                    )
                    examples.append(Example(prompt, image, letters[0]))
    if local_id >= min(SCENES):
        raise RuntimeError("the demo's training images would reuse the sample's local ids")
    return examples


def _encode(processor: Any, example: Example) -> tuple[list[int], list[int], Any]:
    """Token ids of prompt + answer letter + end of sequence; the loss is on the answer alone."""
    tokenizer = processor.tokenizer
    text = processor.apply_chat_template(
        [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": example.prompt}]}],
        add_generation_prompt=True,
    )
    features = processor(text=[text], images=[example.image], return_tensors="pt")
    prompt = features["input_ids"][0].tolist()
    answer = tokenizer(example.letter, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    return prompt + answer, [-100] * len(prompt) + answer, features["pixel_values"][0]


def train(folder: Path, steps: int = STEPS, progress: Callable[[int, int], None] | None = None) -> float:
    """Fine-tune the checkpoint in ``folder`` in place; the last batch's loss. ``progress(done, steps)`` is
    called after every step."""
    import torch
    from transformers import AutoProcessor, LlavaForConditionalGeneration

    threads = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    try:
        torch.manual_seed(SEED)
        processor = AutoProcessor.from_pretrained(folder)
        model = LlavaForConditionalGeneration.from_pretrained(folder)
        pad = processor.tokenizer.pad_token_id
        encoded = [_encode(processor, example) for example in training_examples()]
        optimiser = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, weight_decay=0.0)
        # A linear decay to zero: the last steps settle what was learned instead of jumping around.
        schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda step: 1.0 - step / steps)
        rng = random.Random(SEED)  # noqa: S311 - a reproducible sample order, not a secret
        model.train()
        loss = float("nan")
        for step in range(steps):
            batch = rng.sample(encoded, BATCH)
            width = max(len(ids) for ids, _, _ in batch)
            ids = torch.full((BATCH, width), pad)
            labels = torch.full((BATCH, width), -100)
            mask = torch.zeros((BATCH, width), dtype=torch.long)
            for row, (tokens, targets, _) in enumerate(batch):
                ids[row, : len(tokens)] = torch.tensor(tokens)
                labels[row, : len(targets)] = torch.tensor(targets)
                mask[row, : len(tokens)] = 1
            pixels = torch.stack([p for _, _, p in batch])
            output = model(input_ids=ids, attention_mask=mask, pixel_values=pixels, labels=labels)
            optimiser.zero_grad()
            output.loss.backward()
            optimiser.step()
            schedule.step()
            loss = float(output.loss.detach())
            if progress is not None:
                progress(step + 1, steps)
        model.eval()
        model.save_pretrained(folder)
        return loss
    finally:
        torch.set_num_threads(threads)
