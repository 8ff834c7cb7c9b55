"""The model protocol: a batch of queries in, one answer per query out.

Free of torch types on purpose, so a local model, an HTTP backend and a
replayed file all fit the same shape.
"""

from __future__ import annotations

import json
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray
    from PIL import Image

    from mediconfusion_tests.config import RunConfig
    from mediconfusion_tests.scoring.letters import Letter
from mediconfusion_tests.redaction import scrub, scrub_value
from mediconfusion_tests.scoring.modes import MODES

#: What is kept of one answer's text (characters). An mc answer is at most a few dozen tokens and a
#: free-form one a few hundred; anything longer is cut here, noted in ``meta["truncated"]``, and parsed
#: on the kept part, so one hostile reply cannot slow parsing down or grow the store and reports.
MAX_ANSWER_CHARS = 16_384
#: The same bound for every string in an answer's metadata, and the longest list kept there.
MAX_META_ITEMS = 1_000


@dataclass(frozen=True)
class ModelSpec:
    """A parsed --model value: ``name`` or ``name:argument`` (e.g. replay:PATH)."""

    raw: str
    name: str
    argument: str | None = None


@dataclass(frozen=True)
class Query:
    """One image of one pair, with the question as the model will see it."""

    pair_id: str
    image_index: int
    image_path: str
    image_sha256: str
    question: str
    options: tuple[str, str]
    mode: str
    prompt: str
    #: True when the prompt is already in the model's own format (the paper's prompt file):
    #: the adapter then applies no plain-prompt wrapper of its own (chat templates still apply).
    verbatim: bool = False
    #: The image's identity in the dataset (local id and ROCO path), also when no file is read.
    image_id: str = ""
    #: A system message for models that take one (API models): the prompt file's initial prompt, or the
    #: judge's. Local adapters leave it out, as the original harness's local models did.
    system: str = ""

    @property
    def key(self) -> str:
        return f"{self.pair_id}/{self.image_index}"


@dataclass(frozen=True)
class Answer:
    """What the model produced for one query.

    ``text`` is the raw generation (mc, freeform) or None. ``scores`` are keyed
    by letter: answer-letter probabilities (greedy), option log-likelihoods
    (prefix) or judge scores 1..10 (freeform). ``letter`` is the model's own
    choice where the mode defines one (greedy, prefix); mc text is parsed later.
    """

    text: str | None
    scores: dict[str, float] = field(default_factory=dict)
    letter: Letter | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "scores": self.scores, "letter": self.letter, "meta": self.meta}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Answer:
        return cls(data.get("text"), dict(data.get("scores") or {}), data.get("letter"), dict(data.get("meta") or {}))


class AnswerTypeError(TypeError):
    """An answer of the wrong shape: from a plugin model, a replay file or the answer store."""


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_answer(answer: object) -> Answer:
    """The answer itself when every field has the type the protocol promises, else AnswerTypeError.

    Scores must be finite: NaN or infinity would decide nothing and cannot be written as strict JSON.
    """
    if not isinstance(answer, Answer):
        raise AnswerTypeError(f"expected an Answer, got {type(answer).__name__}: {answer!r:.80}")
    if answer.text is not None and not isinstance(answer.text, str):
        raise AnswerTypeError(f"Answer.text must be a string or None, got {type(answer.text).__name__}")
    if not isinstance(answer.scores, dict):
        raise AnswerTypeError(f"Answer.scores must be a dict, got {type(answer.scores).__name__}")
    for name, value in answer.scores.items():
        if not isinstance(name, str) or not _is_number(value):
            raise AnswerTypeError(f"Answer.scores must map names to numbers, got {name!r}: {value!r:.40}")
        if not math.isfinite(value):
            raise AnswerTypeError(f"Answer.scores[{name!r}] is {value!r}; scores must be finite numbers")
    if answer.letter not in (None, "A", "B"):
        raise AnswerTypeError(f"Answer.letter must be 'A', 'B' or None, got {answer.letter!r:.40}")
    if not isinstance(answer.meta, dict):
        raise AnswerTypeError(f"Answer.meta must be a dict, got {type(answer.meta).__name__}")
    try:
        json.dumps(answer.meta, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise AnswerTypeError(f"Answer.meta must hold JSON values only ({exc})") from None
    return answer


def _bounded(value: Any) -> Any:
    if isinstance(value, str) and len(value) > MAX_ANSWER_CHARS:
        return value[:MAX_ANSWER_CHARS] + f"... [{len(value) - MAX_ANSWER_CHARS} more characters not kept]"
    if isinstance(value, dict):
        return {k: _bounded(v) for k, v in list(value.items())[:MAX_META_ITEMS]}
    if isinstance(value, list):
        return [_bounded(v) for v in value[:MAX_META_ITEMS]]
    return value


def seal_answer(answer: Answer) -> Answer:
    """The answer as the run keeps it: every known secret scrubbed out, text and metadata bounded."""
    text, meta = answer.text, answer.meta
    if text is not None and len(text) > MAX_ANSWER_CHARS:
        meta = {**meta, "truncated": {"chars": len(text), "kept": MAX_ANSWER_CHARS}}
        text = text[:MAX_ANSWER_CHARS]
    return Answer(None if text is None else scrub(text), answer.scores, answer.letter, scrub_value(_bounded(meta)))


class Model(ABC):
    """A loaded model. Subclasses set ``name`` and ``modes`` and implement ``answer``."""

    name: str = "model"
    modes: frozenset[str] = frozenset(MODES)
    #: Whether answers are worth keeping in the answer store (false for instant models).
    cacheable: bool = True
    #: This model's key in the paper's prompt file (prompts.<mode>.<key>).
    prompt_key: str = "default"
    #: False for models that are sent no prompt (replays): their answers carry the prompt they were given.
    sends_prompts: bool = True
    #: The prompt set these answers were given to, when the model knows better than the run (replays).
    prompt_set: str | None = None

    @abstractmethod
    def answer(self, queries: Sequence[Query]) -> list[Answer]:
        """One Answer per query, in order."""

    def fingerprint(self) -> str:
        """Identifies weights and code path: part of every answer-store key."""
        return self.name

    def generation_settings(self) -> dict[str, Any]:
        """Settings that change answers (max tokens, sampling); part of the store key."""
        return {}

    def describe(self) -> dict[str, Any]:
        """Facts for results.json: checkpoint, device, dtype..."""
        return {"name": self.name, "fingerprint": self.fingerprint()}

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release memory or connections."""

    def forward_counts(self) -> tuple[int, int] | None:
        """(forward passes that computed an image, images answered), for models that count them; else None."""
        return None

    def prefetch(self, queries: Sequence[Query]) -> None:  # noqa: B027 - optional hook
        """These queries come soon: start what can be done for them without the model (image preprocessing)."""

    def forget_prefetched(self, keep: Sequence[Query] = ()) -> None:  # noqa: B027 - optional hook
        """What ``prefetch`` prepared is not needed any more, except for the queries in ``keep``."""

    def start_preprocessing(self, workers: int) -> str | None:
        """Preprocess images in ``workers`` processes ahead of the model; why not, or None (0: nothing to do)."""
        return None if workers <= 0 else "this model has no image preprocessing to run ahead"

    def preprocess_facts(self) -> dict[str, Any] | None:
        """Workers, images they preprocessed, and why the pool broke (if it did); None without a pool."""
        return None

    @property
    def prefetch_depth(self) -> int:
        """Images beyond the batch in hand the model wants handed to ``prefetch`` (to keep its preprocessing
        workers busy at small batch sizes); 0: just the next batch."""
        return 0


class LocalModel(Model):
    """A model whose weights run in this process (transformers, RadFM, LLaVA-Med, Med-Flamingo).

    Subclasses implement one method per way of answering; the mode dispatch, torch's inference mode
    and the out-of-memory signal the batcher backs off on are written here once. torch is imported
    only when a local model answers, so this module stays free of it."""

    #: Where the weights are ("cpu", "cuda", "cuda:1", ...).
    device: str = "cpu"
    #: Forward passes that computed an image's tokens (a prefill counts one, a cached continuation none) and
    #: images answered: results.json's forwards_per_image. Adapters count their forwards with ``counted``.
    image_forwards: int = 0
    images_answered: int = 0
    #: `paper` prefix: both options' scores from one forward over their shared prompt where it exists (off only
    #: to measure it against one forward per option: benchmarks/prefix_one_forward.py).
    share_prefix_forward: bool = True

    def counted(self, rows: int) -> None:
        """``rows`` sequences, each over its image, just went through the model."""
        self.image_forwards += rows

    def forward_counts(self) -> tuple[int, int] | None:
        return (self.image_forwards, self.images_answered)

    @abstractmethod
    def generate(self, queries: Sequence[Query]) -> list[Answer]:
        """mc and freeform: a generated text per query."""

    @abstractmethod
    def next_letter(self, queries: Sequence[Query]) -> list[Answer]:
        """greedy: the letter whose next-token score is higher, with both scores."""

    @abstractmethod
    def option_likelihood(self, queries: Sequence[Query]) -> list[Answer]:
        """prefix: each option's likelihood after the prompt, and the likelier option's letter."""

    @property
    def one_at_a_time(self) -> bool:
        """True where batching would change answers: each query then goes through the model alone."""
        return False

    # -- the model's own view of an image (--encoder-similarity, mine-pairs --encoder=model:SPEC) --
    def image_feature_pooling(self) -> str | None:
        """How ``image_features`` pools this model's vision features, or None where it has none to read."""
        return None

    def image_tokens(self, image: Image.Image) -> Any:
        """The vectors the model's language side receives for one image, as a torch tensor (..., d)."""
        from mediconfusion_tests.errors import ModelError

        raise ModelError(f"{self.name}: this model exposes no vision features")

    def image_token_groups(self, images: Sequence[Image.Image]) -> list[Any]:
        """``image_tokens`` of each image; adapters that can batch them without mixing images override this."""
        return [self.image_tokens(image) for image in images]

    def image_features(self, images: Sequence[Image.Image]) -> NDArray[np.float32]:
        """(n, d): each image as this model sees it, the mean of its own image tokens (padding never enters
        the mean), in float32."""
        import numpy as np
        import torch

        with torch.inference_mode():
            groups = self.image_token_groups(images)
            rows = [g.reshape(-1, g.shape[-1]).float().mean(0).cpu().numpy() for g in groups]
        return np.stack(rows).astype(np.float32)

    def answer(self, queries: Sequence[Query]) -> list[Answer]:
        if not queries:
            return []
        if self.one_at_a_time and len(queries) > 1:
            return [answer for query in queries for answer in self._answer_mode([query])]
        return self._answer_mode(queries)

    def _answer_mode(self, queries: Sequence[Query]) -> list[Answer]:
        import torch

        from mediconfusion_tests.errors import ModelError, ModelOutOfMemory
        from mediconfusion_tests.scoring.modes import GENERATING

        mode = queries[0].mode
        methods = {"greedy": self.next_letter, "prefix": self.option_likelihood}
        method = self.generate if mode in GENERATING else methods.get(mode)
        if method is None:
            raise ModelError(f"{self.name}: unsupported mode {mode!r}")
        try:
            with torch.inference_mode():
                answers = method(queries)
            self.images_answered += sum(1 for query in queries if query.image_path)
            return answers
        except torch.cuda.OutOfMemoryError as exc:
            torch.cuda.empty_cache()
            raise ModelOutOfMemory(f"{self.name}: out of memory on {self.device}") from exc

    def close(self) -> None:
        """Drop the weights, and the accelerator's cached blocks with them."""
        self.__dict__.pop("model", None)
        if self.device.startswith("cuda"):
            import torch

            torch.cuda.empty_cache()


#: Builds a model from its parsed --model value and the run's settings; imported only when a model loads.
Factory = Callable[[ModelSpec, "RunConfig"], Model]
