"""The paper's reference rows: a seeded coin flip, and always answering A or B."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from mediconfusion_tests.models.base import Answer, Model, Query

if TYPE_CHECKING:
    from collections.abc import Sequence

    from mediconfusion_tests.config import RunConfig
    from mediconfusion_tests.models.base import ModelSpec
    from mediconfusion_tests.scoring.letters import Letter


def answer_in_mode(mode: str, letter: Letter) -> Answer:
    """The same decision expressed the way each mode records it."""
    other: Letter = "B" if letter == "A" else "A"
    if mode == "freeform":
        return Answer(f"Option {letter}.", {letter: 10.0, other: 1.0})
    if mode in ("greedy", "prefix"):
        return Answer(letter, {letter: 1.0, other: 0.0}, letter=letter)
    return Answer(letter)


class RandomModel(Model):
    name = "random"
    cacheable = False

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def letter(self, query: Query) -> Letter:
        # Seeded per image, so the answer does not depend on order, batching or xdist worker.
        rng = random.Random(f"{self.seed}/{query.pair_id}/{query.image_index}")  # noqa: S311 - not crypto
        return "A" if rng.random() < 0.5 else "B"

    def answer(self, queries: Sequence[Query]) -> list[Answer]:
        return [answer_in_mode(q.mode, self.letter(q)) for q in queries]

    def fingerprint(self) -> str:
        return f"random:seed={self.seed}"


class ConstantModel(Model):
    cacheable = False

    def __init__(self, letter: Letter) -> None:
        self.constant = letter
        self.name = f"always-{letter.lower()}"

    def answer(self, queries: Sequence[Query]) -> list[Answer]:
        return [answer_in_mode(q.mode, self.constant) for q in queries]


def make_random(spec: ModelSpec, config: RunConfig) -> Model:
    return RandomModel(config.seed)


def make_always_a(spec: ModelSpec, config: RunConfig) -> Model:
    return ConstantModel("A")


def make_always_b(spec: ModelSpec, config: RunConfig) -> Model:
    return ConstantModel("B")
