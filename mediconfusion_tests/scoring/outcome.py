"""One pair's judgement: what the model decided for each image and why the case fails.

A PairOutcome converts to and from builtin types only, so it can travel from an
xdist worker to the controller on a test report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from pydantic import ConfigDict, Field

from mediconfusion_tests.records import Record
from mediconfusion_tests.scoring.letters import Letter

MAX_QUOTED = 80
#: Why a pair case fails, most telling first: the confusion MediConfusion measures, then wrong, invalid, errors.
FailureClass = Literal["confused", "wrong", "invalid", "error"]
FAILURE_CLASSES: tuple[FailureClass, ...] = get_args(FailureClass)


class ImageAnswer(Record):
    """The model's answer for one image, and the decision read from it (as results.json records it)."""

    model_config = ConfigDict(frozen=True)

    raw: str | None
    decision: Letter | None
    scores: dict[str, float] = Field(default_factory=dict)
    alternative_decision: Letter | None = None
    cached: bool = False
    model_letter: Letter | None = None
    #: Extra facts from the model or judge: the judge's reply, vocabulary probabilities...
    meta: dict[str, Any] = Field(default_factory=dict)


class EncoderSimilarity(Record):
    """Cosine similarity of a pair's two images as the model sees them, and in the reference encoder."""

    model_config = ConfigDict(frozen=True)

    model: float | None = None
    reference: float | None = None


@dataclass(frozen=True)
class PairOutcome:
    pair_id: str
    categories: tuple[tuple[str, ...], tuple[str, ...]]
    truth: tuple[Letter, Letter]
    answers: tuple[ImageAnswer, ImageAnswer] | None
    error: str | None = None
    prompts: tuple[str, ...] = ()
    #: The traceback of a model error, for the test report only (not sent to the controller).
    error_detail: str | None = field(default=None, compare=False)
    similarity: EncoderSimilarity | None = None

    @property
    def decisions(self) -> tuple[Letter | None, Letter | None]:
        if self.answers is None:
            return (None, None)
        return (self.answers[0].decision, self.answers[1].decision)

    @property
    def correct(self) -> tuple[bool, bool]:
        d1, d2 = self.decisions
        return (d1 == self.truth[0], d2 == self.truth[1])

    @property
    def invalid(self) -> tuple[bool, bool]:
        d1, d2 = self.decisions
        return (d1 is None, d2 is None)

    @property
    def valid(self) -> bool:
        return self.answers is not None and not any(self.invalid)

    @property
    def confused(self) -> bool:
        d1, d2 = self.decisions
        return self.valid and d1 == d2

    @property
    def set_correct(self) -> bool:
        return self.answers is not None and all(self.correct)

    @property
    def failure_class(self) -> FailureClass | None:
        """None for a passing pair, else error, invalid, confused or wrong."""
        if self.error is not None:
            return "error"
        if self.set_correct:
            return None
        if any(self.invalid):
            return "invalid"
        return "confused" if self.confused else "wrong"

    def failure_report(self) -> str | None:
        """The one-line failure message, followed by the traceback of a model error."""
        message = self.failure_message
        if message is not None and self.error_detail:
            return f"{message}\n\n{self.error_detail}"
        return message

    @property
    def failure_message(self) -> str | None:
        """One line saying why the pair fails, or None when it passes."""
        if self.error is not None:
            return f"model error: {self.error}"
        if self.answers is None or self.set_correct:
            return None
        if self.confused:
            return f"confused: answered {self.decisions[0]} for both images"
        parts = []
        for index, (answer, truth) in enumerate(zip(self.answers, self.truth, strict=True), start=1):
            if answer.decision is None:
                parts.append(f"invalid answer on image {index}: {quote(answer.raw)}")
            elif answer.decision != truth:
                parts.append(f"wrong on image {index}: answered {answer.decision}, truth {truth}")
        return "; ".join(parts)

    def swapped(self) -> PairOutcome:
        """The same pair with its two images in the other order."""
        answers = None if self.answers is None else (self.answers[1], self.answers[0])
        return PairOutcome(
            pair_id=self.pair_id,
            categories=(self.categories[1], self.categories[0]),
            truth=(self.truth[1], self.truth[0]),
            answers=answers,
            error=self.error,
            prompts=tuple(reversed(self.prompts)),
            similarity=self.similarity,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "pair_id": self.pair_id,
            "categories": [list(c) for c in self.categories],
            "truth": list(self.truth),
            "answers": None if self.answers is None else [a.model_dump() for a in self.answers],
            "error": self.error,
            "prompts": list(self.prompts),
            "similarity": None if self.similarity is None else self.similarity.model_dump(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PairOutcome:
        answers = data.get("answers")
        return cls(
            pair_id=str(data["pair_id"]),
            categories=(tuple(data["categories"][0]), tuple(data["categories"][1])),
            truth=(data["truth"][0], data["truth"][1]),
            answers=None
            if answers is None
            else (ImageAnswer.model_validate(answers[0]), ImageAnswer.model_validate(answers[1])),
            error=data.get("error"),
            prompts=tuple(data.get("prompts", ())),
            similarity=None if data.get("similarity") is None else EncoderSimilarity.model_validate(data["similarity"]),
        )


def quote(text: str | None, limit: int = MAX_QUOTED) -> str:
    """A raw answer as a short one-line quoted string."""
    if text is None:
        return "no answer"
    flat = " ".join(text.split())
    if len(flat) > limit:
        flat = flat[: limit - 1] + "…"
    return '"' + flat.replace('"', '\\"') + '"'
