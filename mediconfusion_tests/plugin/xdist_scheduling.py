"""xdist scheduling that keeps each chunk of pairs on one worker, so batches span pairs.

Only imported when pytest-xdist is present. It behaves like --dist=load, but
its unit of work is a chunk (the pairs one batch answers) instead of one test.

When a worker crashes, stock scope scheduling hands the whole unit, the test that
crashed included, to the next worker, which crashes on it again until the restart
limit ends the run with the rest of the chunk never answered. Here the tests left
pending by a crashed worker come back one per unit and their pairs are answered
alone (see isolation.py); a test that crashes a worker while alone is not retried:
xdist reports it failed, and every other pair still gets its answer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from xdist.scheduler import LoadScopeScheduling

from mediconfusion_tests.nodeids import pair_id_of

if TYPE_CHECKING:
    from mediconfusion_tests.run.isolation import IsolationFile

#: (worker id, the test it was running, the pairs it had pending, whether that test runs again)
CrashListener = Callable[[str, str, list[str], bool], None]


#: The chunk in hand, the next, and the one after: the next is then known before the chunk in hand starts.
UNITS_AHEAD = 3


def _untouched(workload: dict[str, dict[str, bool]]) -> int:
    """Units of work not one test of which has finished."""
    return sum(1 for unit in workload.values() if not any(unit.values()))


class PairChunkScheduling(LoadScopeScheduling):
    def __init__(
        self,
        config: Any,
        log: Any,
        chunk_of: Callable[[str], int],
        isolation: IsolationFile,
        on_crash: CrashListener,
    ) -> None:
        super().__init__(config, log)
        self._chunk_of = chunk_of
        self._isolation = isolation
        self._on_crash = on_crash
        self._alone: set[str] = set()

    def _split_scope(self, nodeid: str) -> str:
        if nodeid in self._alone:
            return nodeid
        pair_id = pair_id_of(nodeid)
        if pair_id is None:
            return nodeid
        try:
            return f"mediconfusion-chunk-{self._chunk_of(pair_id)}"
        except KeyError:
            return nodeid

    def remove_node(self, node: Any) -> str | None:
        workload = self.assigned_work.pop(node)
        pending = [nodeid for unit in workload.values() for nodeid, done in unit.items() if not done]
        if not pending:
            return None
        crashed = pending[0]
        alone = crashed in self._alone
        # The pairs its engine was answering in one batch: the crashed test's unit.
        together = [n for n in pending if self._split_scope(n) == self._split_scope(crashed)]
        again = [nodeid for nodeid in pending if not (alone and nodeid == crashed)]
        self._alone.update(again)
        # Written before any of them is sent again, so every worker reads it in time.
        self._isolation.add(pair for nodeid in again if (pair := pair_id_of(nodeid)) is not None)
        self._on_crash(str(node.gateway.id), crashed, [pair_id_of(n) or n for n in together], not alone)
        for nodeid in again:
            self.workqueue[nodeid] = {nodeid: False}
        for other in self.assigned_work:
            self._reschedule(other)
        return str(crashed)

    def _reschedule(self, node: Any) -> None:
        """A worker holds its last test until it learns the next one or is told to stop, so a node
        left with a single pending test (one-test units after a crash) gets another or a shutdown. And
        a node holds UNITS_AHEAD chunks none of whose tests has finished, so that when it starts answering
        one it already knows the next (assigned a chunk earlier, not racing it), whose images it prepares
        meanwhile (plugin/upcoming.py).

        A worker that has just crashed may still have its last reports in the queue: sending it work then
        fails ("cannot send"). It is left alone; xdist removes it next, and remove_node hands what it held,
        that unit included, to the others."""
        try:
            super()._reschedule(node)
            if node.shutting_down:
                return
            while self.workqueue and (
                self._pending_of(self.assigned_work[node]) < 2 or _untouched(self.assigned_work[node]) < UNITS_AHEAD
            ):
                self._assign_work_unit(node)
            if not self.workqueue and self._pending_of(self.assigned_work[node]) < 2:
                node.shutdown()
        except OSError:
            return
