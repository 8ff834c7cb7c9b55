"""PairChunkScheduling's own rules, on a scheduler built without xdist's session: how far ahead a worker is
fed, and that a worker gone mid-send does not stop the run."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import pytest

from mediconfusion_tests.plugin.xdist_scheduling import UNITS_AHEAD, PairChunkScheduling


class Node:
    def __init__(self, alive: bool = True) -> None:
        self.alive = alive
        self.shutting_down = False
        self.sent: list[list[int]] = []

    def send_runtest_some(self, indices: list[int]) -> None:
        if not self.alive:
            raise OSError("cannot send (already closed?)")
        self.sent.append(indices)

    def shutdown(self) -> None:
        self.shutting_down = True


def scheduler(node: Node, chunks: int, per_chunk: int) -> Any:
    sched: Any = object.__new__(PairChunkScheduling)
    collection = [f"test_pairs.py::test_pair[{c}-{i}]" for c in range(chunks) for i in range(per_chunk)]
    sched.workqueue = OrderedDict(
        (f"chunk-{c}", {f"test_pairs.py::test_pair[{c}-{i}]": False for i in range(per_chunk)}) for c in range(chunks)
    )
    sched.assigned_work = {node: {}}
    sched.registered_collections = {node: collection}
    sched.log = lambda *args: None
    return sched


def test_a_worker_holds_three_chunks_not_started_so_it_knows_the_next_before_it_starts_one() -> None:
    node = Node()
    sched = scheduler(node, chunks=6, per_chunk=4)
    sched._reschedule(node)
    assert len(node.sent) == UNITS_AHEAD == 3
    # The first test of the first chunk finishes: that chunk is started, so one more comes.
    first_unit = next(iter(sched.assigned_work[node].values()))
    first_unit[next(iter(first_unit))] = True
    sched._reschedule(node)
    assert len(node.sent) == 4


def test_a_worker_that_went_away_mid_send_is_left_to_xdists_removal() -> None:
    node = Node(alive=False)
    sched = scheduler(node, chunks=4, per_chunk=2)
    sched._reschedule(node)  # no "cannot send" escaping into pytest's INTERNALERROR
    # The unit it was being sent stays on its books, so remove_node hands it to the other workers.
    assert len(sched.assigned_work[node]) == 1
    assert len(sched.workqueue) == 3


@pytest.mark.parametrize("per_chunk", [1, 8])
def test_the_last_units_still_end_in_a_shutdown(per_chunk: int) -> None:
    node = Node()
    sched = scheduler(node, chunks=2, per_chunk=per_chunk)
    sched._reschedule(node)
    assert not sched.workqueue
    assert len(node.sent) == 2
    for unit in sched.assigned_work[node].values():
        for nodeid in unit:
            unit[nodeid] = True
    sched._reschedule(node)
    assert node.shutting_down
