"""``--model=radfm`` / ``--model=radfm:PATH``: RadFM as one of the suite's models, in all four modes.

Paper settings and our deviations (also in ``pytest --list-models`` and the README):

- image: RGB, resized to 512 x 512 (bicubic), scaled to [0, 1] without mean/std,
  repeated to depth 4: a (3, 512, 512, 4) scan. The original harness used a
  *random* resized crop (scale 0.8-1.0) here; we use the plain resize so runs are
  deterministic;
- prompt: the image block first, then the text (the harness put it at position 0);
- ``greedy``: the next-token scores of the pieces "▁A" and "▁B", as the harness;
- ``prefix``: mean log-probability of the option's tokens after the prompt (the
  harness took the geometric mean of probabilities: the same order);
- ``mc``/``freeform``: greedy decoding (the harness passed ``top_k=50`` without
  sampling, which is greedy too) up to ``--max-new-tokens`` (the harness: 200).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from mediconfusion_tests.errors import ModelError
from mediconfusion_tests.models.base import Answer, LocalModel, Query
from mediconfusion_tests.models.hf import prefix_answers
from mediconfusion_tests.models.paper_rules import RULES, last_occurrence, score_as_paper
from mediconfusion_tests.models.radfm.tokens import EOS, PAD, RadFMTokens
from mediconfusion_tests.scoring.letters import LETTERS, Letter

if TYPE_CHECKING:
    from collections.abc import Sequence

    import torch
    from PIL import Image

    from mediconfusion_tests.config import RunConfig
    from mediconfusion_tests.models.base import ModelSpec
    from mediconfusion_tests.models.radfm.files import RadFMFiles
    from mediconfusion_tests.models.radfm.network import RadFM

DEVIATION = "deterministic 512x512 bicubic resize instead of the original harness's random resized crop"


def scan(path: str, size: int, depth: int) -> torch.Tensor:
    """The 2D image file as RadFM's 3D input: (3, size, size, depth), values in [0, 1]."""
    from PIL import Image

    with Image.open(path) as image:
        return scan_image(image, size, depth)


def scan_image(image: Image.Image, size: int, depth: int) -> torch.Tensor:
    import numpy as np
    import torch
    from PIL import Image

    pixels = np.asarray(image.convert("RGB").resize((size, size), Image.Resampling.BICUBIC), dtype=np.float32)
    tensor = torch.from_numpy(pixels / 255.0).permute(2, 0, 1)
    return tensor.unsqueeze(-1).repeat(1, 1, 1, depth)


def _divergence(a: Sequence[int], b: Sequence[int]) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))


class RadFMModel(LocalModel):
    name = "radfm"
    prompt_key = "radfm"

    def __init__(
        self,
        files: RadFMFiles,
        *,
        name: str,
        dtype: str,
        device: str,
        max_new_tokens: int,
        device_map: str | None = None,
        prefix_tokens: str = "paper",
        attention: str | None = None,
    ) -> None:
        from mediconfusion_tests.models.hf_loading import require_transformers, resolve_device, resolve_dtype
        from mediconfusion_tests.models.radfm.checkpoint import load_checkpoint

        require_transformers()
        self.name = name
        self.files = files
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype, self.device, "radfm")
        self.max_new_tokens = max_new_tokens
        self.rule = RULES["radfm"] if prefix_tokens == "paper" else None
        self.device_map = device_map
        loaded = load_checkpoint(files.folder, self.dtype, "cpu" if device_map else self.device)
        self.model, self.shape, self.loaded = loaded.model, loaded.shape, loaded
        self.attention = attention
        self.model.use_attention(attention)
        if device_map:
            self.device = spread(self.model, device_map, self.dtype)
        self.tokens = RadFMTokens(files.tokenizer, self.shape.language.vocab, self.shape.image_tokens)
        self.letter_ids = {letter: self.tokens.letter(letter) for letter in LETTERS}

    # -- protocol -------------------------------------------------------------------------
    def fingerprint(self) -> str:
        return f"radfm:{self.files.version}:{str(self.dtype).removeprefix('torch.')}:resize512"

    def generation_settings(self) -> dict[str, Any]:
        return {"max_new_tokens": self.max_new_tokens, "prefix_tokens": "paper" if self.rule else "context"}

    def describe(self) -> dict[str, Any]:
        return {
            "device_map": self.device_map,
            "attention": self.attention,
            "name": self.name,
            "fingerprint": self.fingerprint(),
            "source": str(self.files.folder),
            "class": "RadFM",
            "device": self.device,
            "dtype": str(self.dtype).removeprefix("torch."),
            "loaded": self.loaded.summary(),
            "deviation": DEVIATION,
            "image_features": self.image_feature_pooling(),
            "fidelity": {
                "paper_rule": RULES["radfm"].source,
                "prefix_tokens": "paper" if self.rule else "context",
                # The original's letters are "▁A"/"▁B", what tokens.letter reads in either setting.
                "letter_tokens": "paper",
                "generation": "greedy",
            },
        }

    def image_feature_pooling(self) -> str | None:
        return "the image placeholder embeddings (3D ViT, perceiver, projection), mean over latents"

    def image_tokens(self, image: Image.Image) -> torch.Tensor:
        vision = self.shape.vision
        scans = scan_image(image, vision.image_size, vision.frame_patch).unsqueeze(0)
        layer = self.model.embedding_layer
        out: torch.Tensor = layer.image_embeddings(scans.to(layer.fc.weight.device, layer.fc.weight.dtype))
        return out

    # -- inputs -----------------------------------------------------------------------------
    def _scans(self, queries: Sequence[Query]) -> torch.Tensor:
        import torch

        vision = self.shape.vision
        missing = [q.key for q in queries if not q.image_path]
        if missing:
            raise ModelError(f"{self.name}: RadFM answers about an image; none given for {', '.join(missing)}")
        return torch.stack([scan(q.image_path, vision.image_size, vision.frame_patch) for q in queries])

    def _embedded(self, rows: Sequence[list[int]], scans: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Left-padded input embeddings and attention mask; row i holds one image, ``scans[i]``."""
        import torch

        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), PAD, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for index, row in enumerate(rows):
            ids[index, width - len(row) :] = torch.tensor(row)
            mask[index, width - len(row) :] = 1
        embeds = self.model.embed(ids.to(self.device), scans.to(self.device, dtype=self.dtype))
        return embeds, mask.to(self.device)

    def _logits(self, embeds: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        out = self.model.lang_model(inputs_embeds=embeds, attention_mask=mask, use_cache=False)
        logits: torch.Tensor = out.logits.float()
        return logits

    # -- modes ------------------------------------------------------------------------------
    def generate(self, queries: Sequence[Query]) -> list[Answer]:
        rows = [self.tokens.prompt(q.prompt) for q in queries]
        embeds, mask = self._embedded(rows, self._scans(queries))
        self.counted(len(rows))
        output = self.model.lang_model.generate(
            inputs_embeds=embeds,
            attention_mask=mask,
            max_new_tokens=self.max_new_tokens,
            do_sample=False,
            pad_token_id=PAD,
            eos_token_id=EOS,
        )
        texts = []
        for row in output.tolist():
            if EOS in row:
                row = row[: row.index(EOS)]
            texts.append(self.tokens.decode(row).strip())
        return [Answer(text) for text in texts]

    def next_letter(self, queries: Sequence[Query]) -> list[Answer]:
        import torch

        rows = [self.tokens.prompt(q.prompt) for q in queries]
        embeds, mask = self._embedded(rows, self._scans(queries))
        vocab = torch.log_softmax(self._logits(embeds, mask)[:, -1, :], dim=-1)
        self.counted(len(rows))
        answers = []
        for row in vocab:
            logp = {letter: float(row[self.letter_ids[letter]]) for letter in LETTERS}
            top = max(logp.values())
            total = sum(math.exp(v - top) for v in logp.values())
            probs: dict[str, float] = {letter: math.exp(logp[letter] - top) / total for letter in LETTERS}
            letter: Letter = "A" if probs["A"] >= probs["B"] else "B"
            meta = {"p_vocab": {k: math.exp(v) for k, v in logp.items()}, "token_ids": self.letter_ids}
            answers.append(Answer(letter, probs, letter, meta))
        return answers

    def option_rows(self, query: Query) -> list[tuple[list[int], int]]:
        """Per option: the prompt+option ids and where the option's tokens start.

        The option follows the prompt after one space (a prompt ending in a
        space gives that one): sentencepiece then marks the option's first piece
        with its leading-space marker, as in the harness's "{question} {option}".
        """
        base = self.tokens.prompt(option_texts(query.prompt, ())[0])
        rows = []
        for option, text in zip(query.options, option_texts(query.prompt, query.options), strict=True):
            full = self.tokens.prompt(text)
            start = _divergence(base, full)
            if start >= len(full):
                raise ModelError(f"{self.name}: option {option!r} produced no tokens after the prompt")
            rows.append((full, start))
        return rows

    def paper_rows(self, query: Query) -> tuple[list[tuple[list[int], int, int]] | None, str]:
        """Per option: the ids of ``"{} {}".format(question, option)`` and where the original found the
        option's tokens (``encode(" " + option)[1:]``, last occurrence); (None, why) when they are not there."""
        rows = []
        for letter, option, (full, _) in zip(LETTERS, query.options, self.option_rows(query), strict=True):
            tokens = self.tokens.text(" " + option)[1:]
            start = last_occurrence(full, tokens)
            if start is None or start < 1:
                return None, (
                    f"option {letter} {option!r}: its tokens {tokens} (as Models/radfm.py encodes it) are not in "
                    "the sequence; the original raised here, scored by context"
                )
            rows.append((full, start, start + len(tokens)))
        return rows, ""

    def option_likelihood(self, queries: Sequence[Query]) -> list[Answer]:
        """B wins ties, as in the original; --prefix-tokens=paper scores as the original did (paper_rules)."""
        import torch

        rows: list[tuple[list[int], int, int]] = []
        paper: list[bool] = []
        notes: list[str] = []
        for query in queries:
            found, why = self.paper_rows(query) if self.rule else (None, "")
            rows += found if found is not None else [(ids, start, len(ids)) for ids, start in self.option_rows(query)]
            paper.append(found is not None)
            notes.append(why)
        scans = self._scans(queries)
        # The original read both options' tokens from the row before the option: where the two sequences
        # agree up to there, one forward over that shared prompt gives the row for both.
        shared = [
            by_paper
            and self.share_prefix_forward
            and rows[2 * i][1] == rows[2 * i + 1][1]
            and rows[2 * i][0][: rows[2 * i][1]] == rows[2 * i + 1][0][: rows[2 * i + 1][1]]
            for i, by_paper in enumerate(paper)
        ]
        scores: list[float] = [math.nan] * len(rows)
        together = [i for i, flag in enumerate(shared) if flag]
        if together:
            prompts = [rows[2 * i][0][: rows[2 * i][1]] for i in together]
            embeds, mask = self._embedded(prompts, scans[together])
            last = self._logits(embeds, mask)[:, -1, :]
            self.counted(len(prompts))
            for position, i in enumerate(together):
                for index in (2 * i, 2 * i + 1):
                    ids, start, end = rows[index]
                    scores[index] = score_as_paper(last[position], ids[start:end])
        alone = [index for index in range(len(rows)) if not shared[index // 2]]
        if alone:
            embeds, mask = self._embedded([rows[index][0] for index in alone], scans[[index // 2 for index in alone]])
            logits = self._logits(embeds, mask)
            self.counted(len(alone))
            logprobs = torch.log_softmax(logits, dim=-1)
            width = embeds.shape[1]
            for position, index in enumerate(alone):
                ids, start, end = rows[index]
                offset = width - len(ids)
                if paper[index // 2]:
                    scores[index] = score_as_paper(logits[position, offset + start - 1], ids[start:end])
                    continue
                total = sum(float(logprobs[position, offset + p - 1, ids[p]]) for p in range(start, end))
                scores[index] = total / (end - start)
        answers = prefix_answers(scores, paper, notes)
        for answer, flag in zip(answers, shared, strict=True):
            answer.meta["prefix_forwards"] = 1 if flag else 2
        return answers


def option_texts(prompt: str, options: Sequence[str]) -> list[str]:
    """The prompt with each option after it, as the harness's ``"{} {}".format(question, option)``: one
    space (a prompt ending in a space gives that one; after a newline none). No option: the stem alone."""
    stem = prompt if prompt.endswith("\n") else prompt.rstrip(" ")
    joiner = "" if prompt.endswith("\n") else " "
    return [stem + joiner + option for option in options] if options else [stem]


def spread(model: RadFM, device_map: str, dtype: torch.dtype) -> str:
    """--device-map for cards smaller than the model: accelerate places whole LLaMA layers, the image
    embedding stays in one piece; the device the inputs go to (the token table's)."""
    try:
        from accelerate import dispatch_model, infer_auto_device_map
    except ImportError as exc:
        raise ModelError("--device-map with RadFM needs accelerate: pip install accelerate") from exc
    if device_map == "auto":
        placement = infer_auto_device_map(
            model, no_split_module_classes=["LlamaDecoderLayer", "ImageEmbedding"], dtype=dtype
        )
    else:
        placement = {"": device_map}
    dispatch_model(model, placement)
    return str(model.lang_model.get_input_embeddings().weight.device)


def make_radfm(spec: ModelSpec, config: RunConfig) -> LocalModel:
    """--model=radfm (the hub checkpoint, downloaded and extracted once) or --model=radfm:PATH."""
    from pathlib import Path

    from mediconfusion_tests.models.radfm.files import from_folder, from_hub
    from mediconfusion_tests.sample.build_cache import cache_root

    files = from_folder(Path(spec.argument)) if spec.argument else from_hub(cache_root(), config.model_revision)
    return RadFMModel(
        files,
        name=spec.raw,
        dtype=config.effective_dtype,
        device=config.device,
        max_new_tokens=config.max_new_tokens,
        device_map=config.device_map,
        prefix_tokens=config.prefix_tokens,
        attention=config.attn_implementation,
    )
