"""Which pair cases this process runs after the one in hand, so the engine can prepare the next chunk's images
while the model computes: pytest's own order without xdist, the queue an xdist worker holds with it.

The queue is pytest-xdist's private state (``WorkerInteractor.torun``, ``nextitem_index``); where it is not
there, nothing is known ahead and nothing is prepared early (tests/unit/test_xdist_private_api.py names
what changed).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mediconfusion_tests.nodeids import pair_id_of

if TYPE_CHECKING:
    from collections.abc import Iterator

    import pytest


class Upcoming:
    def __init__(self, session: pytest.Session) -> None:
        self._session = session
        self._running: int | None = None
        self._position: dict[str, int] | None = None
        self._worker = next(
            (p for p in session.config.pluginmanager.get_plugins() if type(p).__name__ == "WorkerInteractor"), None
        )

    def running(self, item: pytest.Item) -> None:
        if self._position is None:
            self._position = {each.nodeid: index for index, each in enumerate(self._session.items)}
        self._running = self._position.get(item.nodeid)

    def __call__(self) -> Iterator[str]:
        """Pair ids, in the order this process will be asked for them, after the running case."""
        items = self._session.items
        for index in self._indices():
            if 0 <= index < len(items) and (pair_id := pair_id_of(items[index].nodeid)) is not None:
                yield pair_id

    def _indices(self) -> list[int] | range:
        if self._worker is None:
            return range(self._running + 1, len(self._session.items)) if self._running is not None else []
        return _queued(self._worker)


def _queued(worker: Any) -> list[int]:
    queue = getattr(worker, "torun", None)
    if queue is None or not hasattr(queue, "lock"):
        return []
    with queue.lock() as waiting:
        found = [getattr(worker, "nextitem_index", None), *waiting]
    return [index for index in found if isinstance(index, int) and not isinstance(index, bool)]
