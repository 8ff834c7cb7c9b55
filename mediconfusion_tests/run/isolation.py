"""Pairs to answer one at a time, because they were in flight when an xdist worker crashed.

The controller's scheduler adds to the file before it hands the pairs out again;
each worker's engine reads it (a stat per chunk, a read only when it changed), so
a replacement worker and the surviving ones alike stop batching those pairs. A
pair that then crashes a worker on its own is known exactly and is not retried.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from mediconfusion_tests.atomic import write_text_atomic

if TYPE_CHECKING:
    from collections.abc import Iterable


class IsolationFile:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int, int] | None = None
        self._pairs: frozenset[str] = frozenset()

    @classmethod
    def create(cls) -> IsolationFile:
        folder = Path(tempfile.mkdtemp(prefix="mediconfusion-isolation-"))
        return cls(folder / "isolated.json")

    def read(self) -> frozenset[str]:
        try:
            stat = self.path.stat()
        except OSError:
            return self._pairs
        stamp = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        if stamp != self._stamp:
            try:
                self._pairs = frozenset(json.loads(self.path.read_text(encoding="utf-8")))
                self._stamp = stamp
            except (OSError, ValueError):
                pass  # mid-replace on a filesystem without atomic rename: keep what was read
        return self._pairs

    def add(self, pair_ids: Iterable[str]) -> None:
        pairs = sorted(self.read() | set(pair_ids))
        write_text_atomic(self.path, json.dumps(pairs))
        self._pairs = frozenset(pairs)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            self.path.parent.rmdir()
