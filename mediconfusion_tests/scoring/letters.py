"""The two answer letters every MediConfusion question has."""

from __future__ import annotations

from typing import Literal

Letter = Literal["A", "B"]
LETTERS: tuple[Letter, Letter] = ("A", "B")


def other(letter: Letter) -> Letter:
    return "B" if letter == "A" else "A"
