"""What one process knows about the run, kept on ``config.stash``; and the keys shared with workers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pathlib import Path

    from mediconfusion_tests.config import RunConfig
    from mediconfusion_tests.data.schema import Pair
    from mediconfusion_tests.errors import MediConfusionError
    from mediconfusion_tests.models.registry import Registry
    from mediconfusion_tests.plugin.upcoming import Upcoming
    from mediconfusion_tests.run.isolation import IsolationFile
    from mediconfusion_tests.run.plan import RunPlan
    from mediconfusion_tests.run.session import RunSession

#: workerinput keys: the controller's plan, the isolation file; workeroutput key: the worker's model facts.
PLAN_KEY = "mediconfusion_plan"
ISOLATION_KEY = "mediconfusion_isolation"
INFO_KEY = "mediconfusion_model"
#: A pair case's user property, so reports (and JUnit XML) name their pair.
PAIR_PROPERTY = "mediconfusion_pair"
#: The outcome a pair case records; it travels to the controller on the test report.
OUTCOME_KEY = pytest.StashKey[dict[str, Any]]()
#: A probe case's user property ("order:10001"), and the probe outcome it records.
PROBE_PROPERTY = "mediconfusion_probe"
PROBE_KEY = pytest.StashKey[dict[str, Any]]()
#: Set by allure-pytest's --alluredir; without it there is no Allure report to annotate.
ALLURE_OPTION = "allure_report_dir"


@dataclass
class State:
    run_config: RunConfig
    registry: Registry
    is_worker: bool
    plan: RunPlan | None = None
    pairs: list[Pair] = field(default_factory=list)
    #: Pair ids this process collected after -m/-k selection, in collection order.
    selected: list[str] = field(default_factory=list)
    session: RunSession | None = None
    #: This process's model facts (workers send them to the controller at the end).
    model_info: dict[str, Any] = field(default_factory=dict)
    #: Pairs to answer alone after a worker crash (controller writes, workers read); None without xdist.
    isolation: IsolationFile | None = None
    #: The pair cases this process runs next (for preparing the next chunk's images early).
    upcoming: Upcoming | None = None
    #: The run-wide request/cost budget file of API models (--max-requests, --max-cost), on the controller.
    budget_file: Path | None = None


STATE = pytest.StashKey[State]()


def state_of(config: pytest.Config) -> State | None:
    return config.stash.get(STATE, None)


def require(config: pytest.Config) -> tuple[State, RunPlan]:
    state = state_of(config)
    if state is None or state.plan is None:
        raise pytest.UsageError("MediConfusion fixtures need --model=NAME (see pytest --list-models)")
    return state, state.plan


def usage_error(exc: MediConfusionError) -> pytest.UsageError:
    return pytest.UsageError(f"mediconfusion: {exc}")
