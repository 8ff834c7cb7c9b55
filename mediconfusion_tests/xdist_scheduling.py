"""xdist scheduling that keeps each chunk of pairs on one worker, so batches span pairs.

Only imported when pytest-xdist is present. It behaves like --dist=load, but
its unit of work is a chunk (the pairs one batch answers) instead of one test.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from xdist.scheduler import LoadScopeScheduling

PAIR_NODE = re.compile(r"\[pair-([^\]\[]+)\]$")


class PairChunkScheduling(LoadScopeScheduling):
    def __init__(self, config: Any, log: Any, chunk_of: Callable[[str], int]) -> None:
        super().__init__(config, log)
        self._chunk_of = chunk_of

    def _split_scope(self, nodeid: str) -> str:
        match = PAIR_NODE.search(nodeid)
        if match is None:
            return nodeid
        try:
            return f"mediconfusion-chunk-{self._chunk_of(match.group(1))}"
        except KeyError:
            return nodeid
