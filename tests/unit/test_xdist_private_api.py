"""The private parts of pytest-xdist's LoadScopeScheduling that plugin/xdist_scheduling.py overrides or calls.

pyproject.toml pins pytest-xdist below 4; within that range a release may still rename them. This test
names what changed, so the pin or the scheduler is updated before a run silently falls back to xdist's
own scheduling (which would retry a crashing pair until the restart limit ends the run)."""

from __future__ import annotations

import inspect

import pytest
from xdist.scheduler import LoadScopeScheduling

#: method -> its parameters as our scheduler calls or overrides it.
PRIVATE_METHODS = {
    "_split_scope": ["self", "nodeid"],
    "_assign_work_unit": ["self", "node"],
    "_pending_of": ["self", "workload"],
    "_reschedule": ["self", "node"],
    "remove_node": ["self", "node"],
}


@pytest.mark.parametrize(("name", "parameters"), PRIVATE_METHODS.items())
def test_the_scheduler_methods_we_rely_on_are_there(name: str, parameters: list[str]) -> None:
    method = getattr(LoadScopeScheduling, name, None)
    assert method is not None, f"pytest-xdist's LoadScopeScheduling has no {name} any more"
    assert list(inspect.signature(method).parameters) == parameters, f"{name} changed its signature"


def test_the_scheduler_state_we_read_is_there() -> None:
    source = inspect.getsource(LoadScopeScheduling.__init__)
    for attribute in ("self.assigned_work", "self.workqueue"):
        assert attribute in source, f"pytest-xdist's LoadScopeScheduling no longer sets {attribute}"


def test_our_scheduler_overrides_only_what_is_checked() -> None:
    from mediconfusion_tests.plugin.xdist_scheduling import PairChunkScheduling

    private = {name for name in vars(PairChunkScheduling) if name.startswith("_") and not name.startswith("__")}
    overridden = {name for name in private if hasattr(LoadScopeScheduling, name)}
    assert overridden <= set(PRIVATE_METHODS)


def test_the_worker_queue_we_peek_at_is_there() -> None:
    """plugin/upcoming.py reads which tests an xdist worker runs next from its WorkerInteractor."""
    from xdist.remote import TestQueue, WorkerInteractor

    source = inspect.getsource(WorkerInteractor)
    for attribute in ("self.torun", "self.nextitem_index", "self.session"):
        assert attribute in source, f"pytest-xdist's WorkerInteractor no longer sets {attribute}"
    assert "config.pluginmanager.register(self)" in source, "the WorkerInteractor is no longer a plugin"
    assert callable(getattr(TestQueue, "lock", None)), "pytest-xdist's TestQueue has no lock() any more"
