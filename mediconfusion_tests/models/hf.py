"""Vision-language models through transformers: AutoModelForImageTextToText + AutoProcessor.

The checkpoint's own chat template builds every prompt; batches are left
padded so the last position of each row is where its answer starts.
torch and transformers are imported when a model is created, never before.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mediconfusion_tests.errors import ModelError
from mediconfusion_tests.models.base import Answer, Model, Query
from mediconfusion_tests.scoring.letters import LETTERS, Letter

_HASHED_FILES = ("config.json", "tokenizer.json", "processor_config.json", "chat_template.jinja")


def require_transformers() -> tuple[Any, Any]:
    try:
        import torch
        import transformers
    except ImportError as exc:
        raise ModelError(
            f"this model needs torch and transformers ({exc.name} is missing): "
            'pip install "mediconfusion-tests[hf]" (see the README for the CPU or CUDA torch build)'
        ) from exc
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    return torch, transformers


def folder_fingerprint(folder: Path) -> str:
    """Hash of a local checkpoint's weights and processing files."""
    digest = hashlib.sha256()
    names = sorted(p.name for p in folder.glob("*.safetensors")) + [n for n in _HASHED_FILES if (folder / n).exists()]
    for name in names:
        digest.update(name.encode())
        digest.update(hashlib.sha256((folder / name).read_bytes()).digest())
    return digest.hexdigest()[:16]


class HFModel(Model):
    def __init__(
        self,
        source: str,
        *,
        name: str | None = None,
        revision: str | None = None,
        device: str = "auto",
        max_new_tokens: int = 32,
        seed: int = 0,
    ) -> None:
        torch, transformers = require_transformers()
        self.torch = torch
        self.source = source
        self.name = name or source
        self.revision = revision
        self.max_new_tokens = max_new_tokens
        self.device = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
        torch.manual_seed(seed)
        try:
            self.processor = transformers.AutoProcessor.from_pretrained(source, revision=revision)
            self.model = transformers.AutoModelForImageTextToText.from_pretrained(source, revision=revision)
        except (OSError, ValueError) as exc:
            raise ModelError(f"cannot load {source!r} through transformers: {exc}") from exc
        self.model.to(self.device).eval()
        self.tokenizer = self.processor.tokenizer
        self.tokenizer.padding_side = "left"
        local = Path(source)
        self._fingerprint = f"hf:{self.name}:" + (
            folder_fingerprint(local) if local.is_dir() else str(getattr(self.model.config, "_commit_hash", revision))
        )
        self._letter_ids = {letter: self._token_variants(letter) for letter in LETTERS}

    # -- protocol ---------------------------------------------------------------------
    def fingerprint(self) -> str:
        return self._fingerprint

    def generation_settings(self) -> dict[str, Any]:
        return {"max_new_tokens": self.max_new_tokens, "do_sample": False}

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "source": self.source,
            "fingerprint": self._fingerprint,
            "class": type(self.model).__name__,
            "device": self.device,
            "dtype": str(self.model.dtype).removeprefix("torch."),
        }

    def answer(self, queries: Sequence[Query]) -> list[Answer]:
        if not queries:
            return []
        mode = queries[0].mode
        with self.torch.inference_mode():
            if mode in ("mc", "freeform"):
                return self._generate(queries)
            if mode == "greedy":
                return self._next_letter(queries)
            if mode == "prefix":
                return self._option_likelihood(queries)
        raise ModelError(f"{self.name}: unsupported mode {mode!r}")

    def close(self) -> None:
        del self.model

    # -- inputs -------------------------------------------------------------------------
    def _chat(self, prompt: str) -> str:
        messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}]
        text: str = self.processor.apply_chat_template(messages, add_generation_prompt=True)
        return text

    def _inputs(self, texts: Sequence[str], image_paths: Sequence[str]) -> Any:
        from PIL import Image

        images = []
        for path in image_paths:
            with Image.open(path) as image:
                images.append(image.convert("RGB"))
        batch = self.processor(images=images, text=list(texts), padding=True, return_tensors="pt")
        return batch.to(self.device)

    def _token_variants(self, letter: str) -> list[int]:
        """Single-token spellings of a letter as it may follow the prompt: "A" and " A"."""
        ids = []
        for text in (letter, " " + letter):
            encoded = self.tokenizer.encode(text, add_special_tokens=False)
            if len(encoded) == 1 and encoded[0] not in ids:
                ids.append(encoded[0])
        if not ids:
            raise ModelError(f"{self.name}: the tokenizer has no single token for the answer letter {letter!r}")
        return ids

    # -- modes --------------------------------------------------------------------------
    def _generate(self, queries: Sequence[Query]) -> list[Answer]:
        inputs = self._inputs([self._chat(q.prompt) for q in queries], [q.image_path for q in queries])
        output = self.model.generate(
            **inputs,
            max_new_tokens=self.max_new_tokens,
            do_sample=False,
            pad_token_id=self.tokenizer.pad_token_id,
        )
        new_tokens = output[:, inputs["input_ids"].shape[1] :]
        texts = self.processor.batch_decode(new_tokens, skip_special_tokens=True)
        return [Answer(text.strip()) for text in texts]

    def _next_letter(self, queries: Sequence[Query]) -> list[Answer]:
        inputs = self._inputs([self._chat(q.prompt) for q in queries], [q.image_path for q in queries])
        logits = self.model(**inputs).logits[:, -1, :].float()
        answers = []
        for row in logits:
            best = {letter: max(float(row[i]) for i in ids) for letter, ids in self._letter_ids.items()}
            top = max(best.values())
            weights = {letter: math.exp(value - top) for letter, value in best.items()}
            total = sum(weights.values())
            probs: dict[str, float] = {letter: weights[letter] / total for letter in LETTERS}
            letter: Letter = "A" if probs["A"] >= probs["B"] else "B"
            answers.append(Answer(letter, probs, letter))
        return answers

    def _option_likelihood(self, queries: Sequence[Query]) -> list[Answer]:
        """Mean log-probability of each option's tokens after the prompt, all in one batch."""
        prompts, texts, paths = [], [], []
        for query in queries:
            prompt = self._chat(query.prompt)
            for option in query.options:
                prompts.append(prompt)
                texts.append(prompt + " " + option)
                paths.append(query.image_path)
        full = self._inputs(texts, paths)
        prompt_only = self._inputs(prompts, paths)
        logprobs = self.torch.log_softmax(self.model(**full).logits.float(), dim=-1)
        scores = []
        for row in range(len(texts)):
            scores.append(self._mean_option_logprob(logprobs[row], full, prompt_only, row))
        answers = []
        for index in range(len(queries)):
            a, b = scores[2 * index], scores[2 * index + 1]
            letter: Letter | None = "A" if a > b else ("B" if b > a else None)
            answers.append(Answer(letter, {"A": a, "B": b}, letter))
        return answers

    def _mean_option_logprob(self, logprobs: Any, full: Any, prompt_only: Any, row: int) -> float:
        full_ids = full["input_ids"][row][full["attention_mask"][row].bool()].tolist()
        prompt_ids = prompt_only["input_ids"][row][prompt_only["attention_mask"][row].bool()].tolist()
        # The option starts where the two tokenisations part: normally right after the
        # prompt, earlier if the tokenizer merged the prompt's last characters with it.
        start = next((i for i, (x, y) in enumerate(zip(full_ids, prompt_ids, strict=False)) if x != y), len(prompt_ids))
        if start >= len(full_ids):
            raise ModelError(f"{self.name}: an option produced no tokens after the prompt")
        offset = full["input_ids"].shape[1] - len(full_ids)  # left padding
        positions = range(offset + start, offset + len(full_ids))
        total = sum(float(logprobs[p - 1, full["input_ids"][row][p]]) for p in positions)
        return total / len(positions)
