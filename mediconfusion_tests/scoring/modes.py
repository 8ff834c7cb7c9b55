"""The four ways a model answers a MediConfusion question (see the README's "Answering modes")."""

from __future__ import annotations

from typing import Literal, get_args

Mode = Literal["mc", "greedy", "prefix", "freeform"]
MODES: tuple[Mode, ...] = get_args(Mode)
