"""Vision-language models through transformers: AutoModelForImageTextToText + AutoProcessor.

One adapter for every family: the family table says how to phrase prompts and
pass images; each example is encoded alone and the batch collated with left
padding (hf_inputs), so a decision never depends on what shares its batch.
torch and transformers are imported when a model is created, never before.
"""

from __future__ import annotations

import copy
import hashlib
import inspect
import math
import pickle
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mediconfusion_tests.errors import ModelError
from mediconfusion_tests.models.base import Answer, LocalModel, Query
from mediconfusion_tests.models.families import SEQUENCE_KEYS
from mediconfusion_tests.models.hf_inputs import collate
from mediconfusion_tests.models.hf_loading import LoadSettings, backend_choice, load, require_transformers
from mediconfusion_tests.models.image_backends import backend_of
from mediconfusion_tests.models.image_pool import ImageFiles, ImagePool, PooledImageProcessor, open_image
from mediconfusion_tests.models.paper_rules import (
    as_log,
    decide_as_paper,
    last_occurrence,
    letters_as_paper,
    rule_for,
    score_as_paper,
)
from mediconfusion_tests.scoring.letters import LETTERS

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence

    from PIL import Image
    from transformers import PreTrainedModel

    from mediconfusion_tests.models.families import Family
    from mediconfusion_tests.models.paper_rules import PaperRule

_HASHED_FILES = (
    "config.json",
    "tokenizer.json",
    "processor_config.json",
    "preprocessor_config.json",
    "chat_template.jinja",
)
#: Modes answered by free generation; "judge" is a text-only prompt to a judge model.


@dataclass(frozen=True)
class Generation:
    max_new_tokens: int = 32
    temperature: float = 0.0
    top_p: float | None = None
    seed: int = 0
    #: "paper": the original harness's per-family settings (paper_rules) replace the values above.
    preset: str = "greedy"

    @property
    def sampling(self) -> bool:
        return self.temperature > 0


@dataclass(frozen=True)
class Fidelity:
    """Which tokens greedy and prefix read: as the original harness did ("paper") or ours ("context")."""

    prefix_tokens: str = "paper"
    letter_tokens: str = "paper"


def folder_fingerprint(folder: Path) -> str:
    """Hash of a local checkpoint's weights and processing files."""
    digest = hashlib.sha256()
    names = sorted(p.name for p in folder.glob("*.safetensors"))
    names += [n for n in _HASHED_FILES if (folder / n).exists()]
    for name in names:
        digest.update(name.encode())
        digest.update(hashlib.sha256((folder / name).read_bytes()).digest())
    return digest.hexdigest()[:16]


def _divergence(a: Sequence[int], b: Sequence[int]) -> int:
    """Length of the common prefix of two token sequences."""
    return next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))


def prefix_answers(scores: Sequence[float], paper: Sequence[bool], notes: Sequence[str]) -> list[Answer]:
    """Answers from the two option scores of each query (A's, then B's), B on ties. Rows scored the
    original's way hold geometric means: decided on those, reported, like context scores, as logs."""
    answers = []
    for index, (by_paper, note) in enumerate(zip(paper, notes, strict=True)):
        a, b = scores[2 * index], scores[2 * index + 1]
        letter = decide_as_paper(a, b)
        meta: dict[str, Any] = {"prefix_tokens": "paper" if by_paper else "context"}
        if by_paper:
            meta["geometric_mean"] = {"A": a, "B": b}
            a, b = as_log(a), as_log(b)
        if note:
            meta["prefix_fallback"] = note
        answers.append(Answer(letter, {"A": a, "B": b}, letter, meta))
    return answers


class _ImageMemo:
    """The processor's image processor, remembering its output per image object: the prefix mode encodes
    one image three times (the prompt alone and with each option), the pixels once suffice."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._memo: dict[tuple[Any, ...], Any] = {}

    def __call__(self, images: Any = None, *args: Any, **kwargs: Any) -> Any:
        flat = images if isinstance(images, (list, tuple)) else [images]
        flat = [i for group in flat for i in (group if isinstance(group, (list, tuple)) else [group])]
        key = (tuple(id(i) for i in flat), len(args), repr(sorted(kwargs.items())))
        if key not in self._memo:
            self._memo[key] = self._inner(images, *args, **kwargs)
        # A copy: some processors take entries out of what their image processor returned (Idefics3's rows).
        return copy.copy(self._memo[key])

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def _forwards_logits_to_keep(model: PreTrainedModel, accepted: Mapping[str, inspect.Parameter]) -> bool:
    """BLIP-2 and InstructBLIP pass extra keyword arguments on to a language model that takes
    ``logits_to_keep``: without it they compute the full vocabulary's logits at every position."""
    passes_on = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values())
    language = getattr(model, "language_model", None)
    if not passes_on or language is None:
        return False
    return "logits_to_keep" in inspect.signature(language.forward).parameters


class HFModel(LocalModel):
    def __init__(
        self,
        settings: LoadSettings,
        *,
        name: str,
        generation: Generation | None = None,
        prompt_key: str | None = None,
        loaded: tuple[Any, Any, Family, str] | None = None,
        fidelity: Fidelity | None = None,
    ) -> None:
        """``loaded`` (processor, model, family, device) replaces transformers' own loading, for checkpoints
        in their authors' layout (LLaVA-Med)."""
        require_transformers()
        import torch

        self.settings = settings
        self.name = name
        self.generation = generation or Generation()
        torch.manual_seed(self.generation.seed)
        self.processor, self.model, self.family, self.device = loaded or load(settings)
        # Read before the preprocessing pool or the memo wraps the image processor.
        images = getattr(self.processor, "image_processor", None)
        #: "pil" or "torchvision": which of transformers' image processors makes the pixels.
        self.image_backend = None if images is None else backend_of(images)
        self.image_backend_reason = (
            backend_choice(settings, self.family).why
            if loaded is None
            else "the adapter's own, as its authors' code preprocessed"
        )
        self.tokenizer = self.processor.tokenizer
        self.has_template = bool(
            getattr(self.processor, "chat_template", None) or getattr(self.tokenizer, "chat_template", None)
        )
        accepted = inspect.signature(self.model.forward).parameters
        self._keeps_logits = "logits_to_keep" in accepted or _forwards_logits_to_keep(self.model, accepted)
        # transformers 5 renamed past_key_values to cache (the old name goes in 5.40).
        self._cache_name = "cache" if "cache" in accepted else "past_key_values"
        local = Path(settings.source)
        version = folder_fingerprint(local) if local.is_dir() else getattr(self.model.config, "_commit_hash", None)
        # The dtype the weights were loaded in, not the setting: "auto" and "paper" differ by device and family.
        loaded_as = str(self.model.dtype).removeprefix("torch.")
        self._fingerprint = f"hf:{settings.source}@{version or settings.revision or 'main'}:{loaded_as}"
        self._letters: dict[str, dict[str, list[int]]] = {}
        self._prompt_key = prompt_key
        self.fidelity = fidelity or Fidelity()
        self.rule = rule_for(self.family.name)
        self._files = ImageFiles()
        self._pool: ImagePool | None = None

    # -- protocol ---------------------------------------------------------------------
    def fingerprint(self) -> str:
        return self._fingerprint

    def generation_settings(self) -> dict[str, Any]:
        settings: dict[str, Any] = (
            asdict(self.generation) if self.generation.sampling else {"max_new_tokens": self.generation.max_new_tokens}
        )
        settings.pop("preset", None)
        if self.image_backend is not None:
            settings["image_backend"] = self.image_backend
        # In the answer store's key: a stored answer is reused only under the same reading rules.
        if self.rule is not None:
            settings.update(asdict(self.fidelity))
            if self.generation.preset == "paper":
                settings["generation"] = {
                    "mc": self.rule.generation("mc"),
                    "freeform": self.rule.generation("freeform"),
                }
                if any(options.get("do_sample") for options in settings["generation"].values()):
                    settings["seed"] = self.generation.seed  # sampled answers differ by seed
        return settings

    def fidelity_facts(self) -> dict[str, Any]:
        """How close to the original harness this model is asked, for results.json."""
        facts: dict[str, Any] = {
            "paper_rule": self.rule.source if self.rule else None,
            "dtype": str(self.model.dtype).removeprefix("torch."),
            "batching": "one image at a time (reduced-precision arithmetic as the original's)"
            if self.one_at_a_time
            else "batched",
            "prefix_tokens": self.fidelity.prefix_tokens if self.rule else "context",
            "letter_tokens": self.fidelity.letter_tokens if self.rule else "context",
            "generation": self.generation.preset if self.rule else "greedy",
            "image_backend": self.image_backend,
        }
        if self.rule and self.generation.preset == "paper":
            facts["paper_generation"] = {"mc": self.rule.generation("mc"), "freeform": self.rule.generation("freeform")}
        return facts

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "source": self.settings.source,
            "revision": self.settings.revision,
            "fingerprint": self._fingerprint,
            "family": self.family.name,
            "class": type(self.model).__name__,
            "device": self.device,
            "dtype": str(self.model.dtype).removeprefix("torch."),
            "prompt_style": self.prompt_style,
            "generation": asdict(self.generation),
            "fidelity": self.fidelity_facts(),
            "warnings": self.fidelity_warnings(),
            "image_features": self.image_feature_pooling(),
            "image_backend": self.image_backend,
            "image_backend_reason": self.image_backend_reason,
        }

    def fidelity_warnings(self) -> list[str]:
        if self.rule is not None or self.generation.preset != "paper":
            return []
        return [
            f"{self.name}: the original harness never ran the {self.family.name} family: --generation=paper "
            "decodes greedily here, and prefix and letter tokens are read by context"
        ]

    @property
    def prompt_style(self) -> str:
        return "chat" if self.family.prompt_style == "chat" and self.has_template else "plain"

    @property
    def prompt_key(self) -> str:  # type: ignore[override]
        return self._prompt_key or self.family.prompt_key

    @property
    def one_at_a_time(self) -> bool:
        """The original's arithmetic in bfloat16/float16 (Llama 3.2 Vision, LLaVA-Med under --dtype=paper):
        reduced precision is not batch-invariant (padding and batched kernels move logits by an ulp, enough to
        turn a near-tie), so each image, and each prefix sequence, goes through the model alone, as the
        original's did. In float32 batches decide identically (tests/acceptance/test_fidelity.py)."""
        import torch

        reduced = self.model.dtype in (torch.bfloat16, torch.float16)
        paper = self.generation.preset == "paper" or "paper" in (
            self.fidelity.prefix_tokens,
            self.fidelity.letter_tokens,
        )
        return self.rule is not None and reduced and paper

    # -- inputs -------------------------------------------------------------------------
    def render(self, prompt: str, with_image: bool = True, verbatim: bool = False) -> str:
        """The prompt as the model reads it, before image tokens are expanded."""
        if self.prompt_style == "plain":
            body = prompt if verbatim or not with_image else self.family.plain_template.format(prompt=prompt)
            return (self.family.image_marker if with_image else "") + body
        content: list[dict[str, str]] = [{"type": "image"}] if with_image else []
        if verbatim and self.rule is not None and self.rule.text_before_image:
            content.insert(0, {"type": "text", "text": prompt})
        else:
            content.append({"type": "text", "text": prompt})
        text: str = self.processor.apply_chat_template(
            [{"role": "user", "content": content}], add_generation_prompt=True
        )
        return text

    def _image(self, path: str) -> Image.Image:
        image: Image.Image = self._files.opened(open_image(path), path)
        return image

    # -- preprocessing ahead of the model (--preprocess-workers) ---------------------------------
    def start_preprocessing(self, workers: int) -> str | None:
        """Run the image processor in ``workers`` processes ahead of the model; why not, or None."""
        inner = getattr(self.processor, "image_processor", None)
        if workers <= 0 or inner is None or self._pool is not None:
            return None if workers <= 0 or self._pool is not None else "the processor has no image processor"
        from PIL import Image

        try:
            pool = ImagePool(inner, workers)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:  # sent to the workers by pickling
            return f"its image processor cannot be sent to worker processes ({type(exc).__name__}: {exc})"
        except (BrokenProcessPool, TimeoutError, OSError) as exc:
            return f"its worker processes did not start ({type(exc).__name__}: {exc})"
        try:
            self.processor.image_processor = PooledImageProcessor(inner, pool, self._files)
        except (AttributeError, TypeError, ValueError) as exc:  # a processor that refuses the swap
            pool.close()
            return f"the processor refused a stand-in image processor ({exc})"
        self._pool = pool
        # One call shows which arguments the processor passes its image processor; the pool serves those.
        self._encode(self.render("", with_image=True), Image.new("RGB", (32, 32)))
        if pool.learning:
            self.stop_preprocessing()
            return "the processor never called its image processor with one image"
        return None

    def stop_preprocessing(self) -> None:
        if self._pool is None:
            return
        pool, self._pool = self._pool, None
        wrapper = getattr(self.processor, "image_processor", None)
        if isinstance(wrapper, PooledImageProcessor):
            self.processor.image_processor = wrapper._inner
        pool.close()

    def prefetch(self, queries: Sequence[Query]) -> None:
        if self._pool is not None:
            self._pool.submit(dict.fromkeys(q.image_path for q in queries if q.image_path))

    def forget_prefetched(self, keep: Sequence[Query] = ()) -> None:
        if self._pool is not None:
            self._pool.forget({q.image_path for q in keep})

    @property
    def prefetch_depth(self) -> int:
        # Two images per worker in flight: each finishes one while the next waits its turn.
        return 2 * self._pool.workers if self._pool is not None else 0

    def preprocess_facts(self) -> dict[str, Any] | None:
        if self._pool is None:
            return None
        pool = self._pool
        return {
            "workers": pool.workers,
            "images_from_pool": pool.served,
            "images_waited_for": pool.waited,
            "wait_s": round(pool.wait_s, 3),
            "broken": pool.broken,
        }

    def close(self) -> None:
        self.stop_preprocessing()
        super().close()

    def _encode(self, text: str, image: Any | None, special_tokens: bool = True) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"text": [text], "return_tensors": "pt"}
        if not special_tokens:
            kwargs["add_special_tokens"] = False
        if image is not None:
            kwargs["images"] = [[image]] if self.family.nested_images else [image]
        features = dict(self.processor(**kwargs))
        features.pop("labels", None)
        return features

    def _batch(self, features: Sequence[dict[str, Any]]) -> dict[str, Any]:
        side = getattr(getattr(self.processor, "qformer_tokenizer", None), "pad_token_id", 0) or 0
        batch = collate(features, self.family, self.tokenizer.pad_token_id, side)
        dtype = self.model.dtype
        return {
            k: v.to(self.device, dtype=dtype) if v.is_floating_point() else v.to(self.device) for k, v in batch.items()
        }

    def _encoded(self, queries: Sequence[Query]) -> tuple[list[str], list[dict[str, Any]]]:
        texts, features = [], []
        for query in queries:
            image = self._image(query.image_path) if query.image_path else None
            text = self.render(query.prompt, with_image=image is not None, verbatim=query.verbatim)
            texts.append(text)
            plain = query.verbatim and self.rule is not None and self.rule.no_special_tokens
            features.append(self._encode(text, image, special_tokens=not plain))
        return texts, features

    def _forward(self, batch: dict[str, Any], keep: int) -> Any:
        """Logits of the last ``keep`` positions (computed only there when the model allows), in the model's
        dtype: the paper's arithmetic reads them as they are, ours converts them to float32."""
        kwargs = {"logits_to_keep": keep} if self._keeps_logits and keep < batch["input_ids"].shape[1] else {}
        logits = self.model(**batch, **kwargs).logits
        return logits[:, -keep:, :]

    # -- vision features ------------------------------------------------------------------
    def _vision_module(self) -> Any:
        """The vision encoder of a model without ``get_image_features`` (Llama 3.2 Vision), or None."""
        for owner in (self.model, getattr(self.model, "model", None)):
            for name in ("vision_model", "vision_tower", "visual"):
                module = getattr(owner, name, None)
                if callable(module):
                    return module
        return None

    def image_feature_pooling(self) -> str | None:
        if callable(getattr(self.model, "get_image_features", None)):
            return "get_image_features: the image tokens the language model receives, mean over tokens"
        if self._vision_module() is not None:
            return "vision encoder output (before any projector), mean over tiles and tokens"
        return None

    def _feature_outputs(self, features: Sequence[dict[str, Any]]) -> Any:
        """The model's image features (or its vision encoder's output) for preprocessed images."""
        get = getattr(self.model, "get_image_features", None)
        module = get if callable(get) else self._vision_module()
        if module is None:
            raise ModelError(f"{self.name}: {type(self.model).__name__} has no vision features to read")
        inputs = self._batch(features)
        accepted = inspect.signature(module if callable(get) else module.forward).parameters
        out = module(**{k: v for k, v in inputs.items() if k in accepted})
        found = getattr(out, "pooler_output", None) if callable(get) else None
        return getattr(out, "last_hidden_state", out) if found is None else found

    def image_tokens(self, image: Image.Image) -> Any:
        """The model's own preprocessing of one image with an empty prompt, through transformers'
        ``get_image_features`` (LLaVA, LLaVA-NeXT, BLIP-2, InstructBLIP, Qwen2-VL, Gemma 3, PaliGemma,
        Idefics3), else the vision encoder's last hidden state."""
        import torch

        found = self._feature_outputs([self._encode(self.render("", with_image=True), image)])
        parts = found if isinstance(found, list | tuple) else [found]
        return torch.cat([part.reshape(-1, part.shape[-1]) for part in parts])

    def image_token_groups(self, images: Sequence[Image.Image]) -> list[Any]:
        """All images in one forward when the output comes back one entry per image (a list, or a tensor
        with one row per image); else, as for Idefics3 splitting images into tiles, one image at a time."""
        if len(images) < 2 or self.one_at_a_time:
            return super().image_token_groups(images)
        text = self.render("", with_image=True)
        found = self._feature_outputs([self._encode(text, image) for image in images])
        if isinstance(found, list | tuple) and len(found) == len(images):
            return list(found)
        if not isinstance(found, list | tuple) and found.shape[0] == len(images):
            return list(found)
        return super().image_token_groups(images)

    # -- modes --------------------------------------------------------------------------
    def generate(self, queries: Sequence[Query]) -> list[Answer]:
        import torch

        _, features = self._encoded(queries)
        batch = self._batch(features)
        options: dict[str, Any] = {"max_new_tokens": self.generation.max_new_tokens, "do_sample": False}
        if self.generation.preset == "paper" and self.rule is not None:
            options = self.rule.generation(queries[0].mode)
            if options.get("do_sample"):
                torch.manual_seed(self.generation.seed)
        elif self.generation.sampling:
            torch.manual_seed(self.generation.seed)
            options.update(do_sample=True, temperature=self.generation.temperature, top_p=self.generation.top_p)
        if options.get("do_sample") and self.generation.preset == "paper":
            # Sampled as the original (InstructBLIP's mc): one image at a time, each from --seed, so an
            # answer depends on neither the batch nor the order (a batch draws from one stream).
            return [self._sample_one(features[i : i + 1], options) for i in range(len(features))]
        output = self.model.generate(**batch, **options, pad_token_id=self.tokenizer.pad_token_id)
        self.counted(len(features))
        texts = self.tokenizer.batch_decode(output[:, batch["input_ids"].shape[1] :], skip_special_tokens=True)
        return [Answer(text.strip()) for text in texts]

    def _sample_one(self, features: Sequence[dict[str, Any]], options: dict[str, Any]) -> Answer:
        import torch

        batch = self._batch(features)
        torch.manual_seed(self.generation.seed)
        output = self.model.generate(**batch, **options, pad_token_id=self.tokenizer.pad_token_id)
        self.counted(1)
        text = self.tokenizer.decode(output[0, batch["input_ids"].shape[1] :], skip_special_tokens=True)
        return Answer(text.strip(), meta={"sampled": {"seed": self.generation.seed, **options}})

    def letter_ids(self, text: str) -> dict[str, list[int]]:
        """Token ids that can start each answer letter right after this prompt.

        Both "A" and " A", as the tokenizer splits them after this very prompt
        and on their own, kept when the token itself reads as the letter.
        """
        if text in self._letters:
            return self._letters[text]
        paper = self.paper_letter_ids()
        if paper is not None:
            self._letters[text] = paper
            return paper
        tokenizer = self.tokenizer
        base = tokenizer(text, add_special_tokens=False)["input_ids"]
        found: dict[str, list[int]] = {}
        for letter in LETTERS:
            ids: list[int] = []
            for continuation in (letter, " " + letter):
                extended = tokenizer(text + continuation, add_special_tokens=False)["input_ids"]
                solo = tokenizer(continuation, add_special_tokens=False)["input_ids"]
                start = _divergence(base, extended)
                for token in (extended[start : start + 1], solo[:1]):
                    if token and tokenizer.decode(token).strip() == letter and token[0] not in ids:
                        ids.append(token[0])
            if not ids:
                raise ModelError(f"{self.name}: the tokenizer has no token that reads as the answer letter {letter!r}")
            found[letter] = ids
        self._letters[text] = found
        return found

    def paper_letter_ids(self) -> dict[str, list[int]] | None:
        """The letters as the original encoded them (``tokenizer("A", add_special_tokens=False)``), where
        --letter-tokens=paper applies and each letter is one token; None: read by context."""
        if self.fidelity.letter_tokens != "paper" or self.rule is None:
            return None
        if not hasattr(self, "_paper_letters"):
            found: dict[str, list[int]] = {
                letter: list(self.tokenizer(letter, add_special_tokens=False)["input_ids"]) for letter in LETTERS
            }
            self._paper_letters = found if all(len(ids) == 1 for ids in found.values()) else None
        return self._paper_letters

    def next_letter(self, queries: Sequence[Query]) -> list[Answer]:
        import torch

        texts, features = self._encoded(queries)
        logits = self._forward(self._batch(features), keep=1)[:, -1, :]
        self.counted(len(features))
        vocab = torch.log_softmax(logits.float(), dim=-1)
        answers = []
        for raw, row, text in zip(logits, vocab, texts, strict=True):
            ids = self.letter_ids(text)
            scores = {letter: float(torch.logsumexp(row[ids[letter]], dim=0)) for letter in LETTERS}
            paper = self.paper_letter_ids() == ids
            if paper:
                # The original's arithmetic: softmax over the two letters' logits in the model's dtype.
                letter, probs = letters_as_paper(raw, [ids["A"][0], ids["B"][0]])
            else:
                top = max(scores.values())
                total = sum(math.exp(s - top) for s in scores.values())
                probs = {letter: math.exp(scores[letter] - top) / total for letter in LETTERS}
                letter = "A" if probs["A"] >= probs["B"] else "B"
            meta = {
                "p_vocab": {k: math.exp(v) for k, v in scores.items()},
                "token_ids": ids,
                "letter_tokens": "paper" if paper else "context",
            }
            answers.append(Answer(letter, probs, letter, meta))
        return answers

    def option_sequences(self, query: Query) -> list[tuple[dict[str, Any], tuple[int, int, int]]]:
        """Per option: the encoded prompt+option, and (length, first, end) of the option's tokens.

        The option tokens are found by encoding the prompt alone and prompt+option
        and comparing the two token lists from the front (where they part) and
        from the back (tokens a processor appends after the text, like
        PaliGemma's newline, are common to both).
        """
        image = self._image(query.image_path) if query.image_path else None
        prompt = self.render(query.prompt, with_image=image is not None, verbatim=query.verbatim)
        with self._memo_images():
            prompt_ids = self._encode(prompt, image)["input_ids"][0].tolist()
            joiner = "" if prompt.endswith((" ", "\n")) else " "
            fulls = [self._encode(prompt + joiner + option, image) for option in query.options]
        out = []
        for option, full in zip(query.options, fulls, strict=True):
            full_ids = full["input_ids"][0].tolist()
            start = _divergence(prompt_ids, full_ids)
            tail = _divergence(prompt_ids[start:][::-1], full_ids[start:][::-1])
            if start >= len(full_ids) - tail:
                raise ModelError(f"{self.name}: option {option!r} produced no tokens after the prompt")
            out.append((full, (len(full_ids), start, len(full_ids) - tail)))
        return out

    def paper_prefix_text(self, rule: PaperRule, query: Query, option: str, with_image: bool) -> str:
        """The prompt+option text as the original's ``do_prefix_forward`` for this family wrote it."""
        question = query.prompt
        if query.verbatim and rule.prefix_question is not None:
            question = rule.prefix_question.format(question=query.question)
        if rule.conversation and self.prompt_style == "chat":
            content: list[dict[str, str]] = [{"type": "image"}] if with_image else []
            content.append({"type": "text", "text": question})
            conversation = [
                {"role": "user", "content": content},
                {"role": "assistant", "content": [{"type": "text", "text": option}]},
            ]
            text: str = self.processor.apply_chat_template(conversation, add_generation_prompt=True)
            return text
        prompt = self.render(question, with_image=with_image, verbatim=query.verbatim)
        return prompt + ("" if prompt.endswith((" ", "\n")) else " ") + option

    def paper_sequences(
        self, rule: PaperRule, query: Query
    ) -> tuple[list[tuple[dict[str, Any], tuple[int, int, int]]] | None, str]:
        """Per option: the encoded sequence and (length, first, end) of the option tokens as the original
        found them (the family's encoding of the option, at its last occurrence). (None, why) when they
        are not there: the original raised; the caller scores this image by context."""
        image = self._image(query.image_path) if query.image_path else None
        out = []
        with self._memo_images():
            for letter, option in zip(LETTERS, query.options, strict=True):
                full = self._encode(self.paper_prefix_text(rule, query, option, image is not None), image)
                ids = full["input_ids"][0].tolist()
                tokens = rule.option_ids(lambda t: self.tokenizer.encode(t, add_special_tokens=False), option)
                start = last_occurrence(ids, tokens)
                if start is None or start < 1:
                    return None, (
                        f"option {letter} {option!r}: its tokens {tokens} (as {rule.source} encodes it) are not "
                        "in the sequence; the original raised here, scored by context"
                    )
                out.append((full, (len(ids), start, start + len(tokens))))
        return out, ""

    @contextmanager
    def _memo_images(self) -> Iterator[None]:
        inner = getattr(self.processor, "image_processor", None)
        if inner is None or isinstance(inner, _ImageMemo):
            yield
            return
        try:
            self.processor.image_processor = _ImageMemo(inner)
        except (AttributeError, TypeError, ValueError):  # a processor that refuses the swap: no memo
            yield
            return
        try:
            yield
        finally:
            self.processor.image_processor = inner

    def mean_logprobs(
        self,
        sequences: Sequence[tuple[dict[str, Any], tuple[int, int, int]]],
        keep_all: bool = False,
        paper: Sequence[bool] = (),
    ) -> list[float]:
        """Mean log-probability of each sequence's option tokens, from one batched forward.

        Only the logits of the last positions are computed (``logits_to_keep``);
        ``keep_all`` computes them everywhere, as the original harness did.
        Rows marked in ``paper`` get the original's score instead (paper_rules.score_as_paper).
        """
        import torch

        if self.one_at_a_time and len(sequences) > 1:
            return [
                score
                for index, item in enumerate(sequences)
                for score in self.mean_logprobs([item], keep_all, paper[index : index + 1])
            ]
        batch = self._batch([features for features, _ in sequences])
        width = batch["input_ids"].shape[1]
        keep = width if keep_all else max(length - start for _, (length, start, _) in sequences) + 1
        raw = self._forward(batch, keep)
        self.counted(len(sequences))
        logits = raw.float()
        # log p(token) = logit - logsumexp(logits): no normalised copy of the whole vocabulary is made.
        normaliser = torch.logsumexp(logits, dim=-1)
        first = width - keep  # position of logits index 0
        ids = batch["input_ids"]
        scores = []
        for row, (_, (length, start, end)) in enumerate(sequences):
            offset = width - length  # this row's left padding
            if row < len(paper) and paper[row]:
                tokens = ids[row, offset + start : offset + end].tolist()
                scores.append(score_as_paper(raw[row, offset + start - 1 - first], tokens))
                continue
            positions = torch.arange(offset + start, offset + end, device=ids.device)
            read = logits[row, positions - 1 - first, ids[row, positions]] - normaliser[row, positions - 1 - first]
            scores.append(float(read.sum()) / (end - start))
        return scores

    def shared_prefix_logprobs(
        self, groups: Sequence[Sequence[tuple[dict[str, Any], tuple[int, int, int]]]]
    ) -> list[float]:
        """Mean option log-probabilities with the prompt (and image) computed once for both options.

        One batched forward over the prompts fills a key/value cache; it is
        repeated for the two options and one more forward reads both options'
        tokens. Positions follow the cache (rotary attention depends only on
        distances, so left padding cancels out), as in the plain path.
        """
        import torch

        prompts, continuations, spans = [], [], []
        for group in groups:
            cut = min(start for _, (_, start, _) in group)
            first = group[0][0]
            length = first["input_ids"].shape[1]
            prompts.append(
                {
                    k: v[:, :cut] if k in SEQUENCE_KEYS and v.dim() > 1 and v.shape[1] == length else v
                    for k, v in first.items()
                }
            )
            for features, (_, start, end) in group:
                continuations.append(features["input_ids"][0, cut:])
                spans.append((start - cut, end - cut))
        batch = self._batch(prompts)
        width = batch["input_ids"].shape[1]
        out = self.model(**batch, use_cache=True, **({"logits_to_keep": 1} if self._keeps_logits else {}))
        self.counted(len(prompts))  # the options' forward continues from the cache: the image is not read again
        per_option = len(groups[0])
        last = torch.log_softmax(out.logits[:, -1].float(), dim=-1).repeat_interleave(per_option, dim=0)
        cache = getattr(out, self._cache_name)
        cache.batch_repeat_interleave(per_option)
        longest = max(len(c) for c in continuations)
        ids = torch.full((len(continuations), longest), self.tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(continuations), longest), dtype=torch.long)
        for row, tokens in enumerate(continuations):
            ids[row, : len(tokens)] = tokens
            mask[row, : len(tokens)] = 1
        mask = torch.cat([batch["attention_mask"].repeat_interleave(per_option, dim=0).cpu(), mask], dim=1)
        logits = self.model(
            input_ids=ids.to(self.device),
            attention_mask=mask.to(self.device),
            cache_position=torch.arange(width, width + longest, device=self.device),
            **{self._cache_name: cache},
        ).logits
        logprobs = torch.log_softmax(logits.float(), dim=-1)
        scores = []
        for row, (start, end) in enumerate(spans):
            tokens = continuations[row]
            total = sum(
                float(last[row, tokens[j]]) if j == 0 else float(logprobs[row, j - 1, tokens[j]])
                for j in range(start, end)
            )
            scores.append(total / (end - start))
        return scores

    def option_likelihood(self, queries: Sequence[Query]) -> list[Answer]:
        """Both options of every query; the higher score wins, B on ties (as the original decided).

        --prefix-tokens=paper (families with a paper rule): the original's sequence, tokens and score;
        else the mean log-probability of the tokens where prompt and prompt+option part.
        """
        rule = self.rule if self.fidelity.prefix_tokens == "paper" else None
        groups, paper, notes = [], [], []
        for query in queries:
            found, why = self.paper_sequences(rule, query) if rule is not None else (None, "")
            groups.append(found if found is not None else self.option_sequences(query))
            paper.append(found is not None)
            notes.append(why)
        if self.family.shares_prompt_cache and not any(paper):
            return prefix_answers(self.shared_prefix_logprobs(groups), paper, notes)
        # The original read both options' tokens from the row before the option; where the two sequences
        # agree up to there, that row is the same for both and one forward over the shared prompt gives it.
        shared = [
            self.shared_paper_prompt(group) if by_paper else None for group, by_paper in zip(groups, paper, strict=True)
        ]
        scores: list[float] = [math.nan] * (2 * len(groups))
        alone = [index for index, prompt in enumerate(shared) if prompt is None]
        together = [(index, prompt) for index, prompt in enumerate(shared) if prompt is not None]
        if together:
            rows = self._forward(self._batch([prompt for _, prompt in together]), keep=1)[:, -1, :]
            self.counted(len(together))
            for row, (index, _) in zip(rows, together, strict=True):
                for option, (features, (_, start, end)) in enumerate(groups[index]):
                    tokens = features["input_ids"][0, start:end].tolist()
                    scores[2 * index + option] = score_as_paper(row, tokens)
        if alone:
            flags = [paper[index] for index in alone for _ in range(2)]
            each = self.mean_logprobs([item for index in alone for item in groups[index]], paper=flags)
            for position, index in enumerate(alone):
                scores[2 * index : 2 * index + 2] = each[2 * position : 2 * position + 2]
        answers = prefix_answers(scores, paper, notes)
        for answer, prompt in zip(answers, shared, strict=True):
            answer.meta["prefix_forwards"] = 1 if prompt is not None else 2
        return answers

    def shared_paper_prompt(
        self, group: Sequence[tuple[dict[str, Any], tuple[int, int, int]]]
    ) -> dict[str, Any] | None:
        """The inputs both options' paper sequences share, cut just before the option; None where they part
        earlier (InstructBLIP's Q-Former reads the whole text, option included), or where reduced precision
        is read as the original's (one_at_a_time): a shorter forward there may move a logit by an ulp."""
        import torch

        (first, (length, start, _)), (second, (other_length, other_start, _)) = group
        if not self.share_prefix_forward or self.one_at_a_time or start != other_start or first.keys() != second.keys():
            return None
        prompt: dict[str, Any] = {}
        for key, value in first.items():
            other = second[key]
            if isinstance(value, torch.Tensor) and isinstance(other, torch.Tensor):
                if key in SEQUENCE_KEYS and value.dim() > 1 and value.shape[1] == length:
                    if other.dim() < 2 or other.shape[1] != other_length:
                        return None
                    value, other = value[:, :start], other[:, :start]
                if value.shape != other.shape or not torch.equal(value, other):
                    return None
            elif value != other:
                return None
            prompt[key] = value
        return prompt
