"""The four ways a model answers a MediConfusion question (see the README's "Answering modes")."""

from __future__ import annotations

from typing import Literal, get_args

Mode = Literal["mc", "greedy", "prefix", "freeform"]
MODES: tuple[Mode, ...] = get_args(Mode)
#: The modes answered by generating text; "judge" is the judge's own grading of free-form answers.
GENERATING = ("mc", "freeform", "judge")
