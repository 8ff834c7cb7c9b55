"""The pytest layer: options, hooks and fixtures that hand off to the plain-Python core.

Imports here stay light (no torch, transformers or datasets) so the plugin
loads fast and ``pytest --help`` works without them; the controller's work
lives in RunSession, the per-worker work in Engine.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from mediconfusion_tests import hookspecs, options
from mediconfusion_tests.errors import MediConfusionError
from mediconfusion_tests.nodeids import marker_name, pair_id_of

if TYPE_CHECKING:
    from mediconfusion_tests.config import RunConfig
    from mediconfusion_tests.data.schema import Pair
    from mediconfusion_tests.engine import Engine
    from mediconfusion_tests.isolation import IsolationFile
    from mediconfusion_tests.models.base import Model
    from mediconfusion_tests.models.registry import Registry
    from mediconfusion_tests.plan import RunPlan
    from mediconfusion_tests.scoring.outcome import PairOutcome
    from mediconfusion_tests.session import RunSession

SUITE_DIR = Path(__file__).parent / "suite"
PLAN_KEY = "mediconfusion_plan"
INFO_KEY = "mediconfusion_model"
ISOLATION_KEY = "mediconfusion_isolation"
PAIR_PROPERTY = "mediconfusion_pair"
OUTCOME_KEY = pytest.StashKey[dict[str, Any]]()
#: Set by allure-pytest's --alluredir; without it there is no Allure report to annotate.
ALLURE_OPTION = "allure_report_dir"
#: The benchmark's categories, registered as markers up front so --strict-markers passes.
KNOWN_CATEGORIES = (
    "Cerebral",
    "Vascular",
    "Head and Neck",
    "Cardiac",
    "Spinal",
    "Gastrointestinal",
    "Musculoskeletal",
    "Pulmonary",
    "Nuclear Medicine",
)


@dataclass
class State:
    """Everything this process knows about the run; stored on config.stash."""

    run_config: RunConfig
    registry: Registry
    is_worker: bool
    plan: RunPlan | None = None
    pairs: list[Pair] = field(default_factory=list)
    #: Pair ids this process collected after -m/-k selection, in collection order.
    selected: list[str] = field(default_factory=list)
    session: RunSession | None = None
    model_info: dict[str, Any] = field(default_factory=dict)
    #: Pairs to answer alone after a worker crash (controller writes, workers read); None without xdist.
    isolation: IsolationFile | None = None


STATE = pytest.StashKey[State]()


def _state(config: pytest.Config) -> State | None:
    return config.stash.get(STATE, None)


def _usage(exc: MediConfusionError) -> pytest.UsageError:
    return pytest.UsageError(f"mediconfusion: {exc}")


# -- configuration ------------------------------------------------------------
def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    options.add_options(parser)


def _registry(config: pytest.Config) -> Registry:
    from mediconfusion_tests.models.registry import build_registry

    return build_registry(config.hook.pytest_mediconfusion_models())


def pytest_cmdline_main(config: pytest.Config) -> int | None:
    if not config.getoption(options.DEST + "list_models"):
        return None
    try:
        entries = _registry(config).entries()
    except MediConfusionError as exc:
        raise _usage(exc) from None
    for entry in entries:
        argument = ":ARG" if entry.takes_argument else ""
        print(f"{entry.name + argument:<14} modes {','.join(sorted(entry.modes)):<26} {entry.summary}")
    return 0


def pytest_configure(config: pytest.Config) -> None:
    for category in KNOWN_CATEGORIES:
        config.addinivalue_line("markers", f"{marker_name(category)}: MediConfusion pairs in category {category}")
    config.addinivalue_line("markers", "mediconfusion: a MediConfusion pair case")
    run_config = options.read_config(config)
    if not run_config.model:
        return
    workerinput = getattr(config, "workerinput", None)
    try:
        registry = _registry(config)
        registry.parse(run_config.model)
    except MediConfusionError as exc:
        raise _usage(exc) from None
    config.stash[STATE] = State(run_config, registry, is_worker=workerinput is not None)
    if workerinput is not None:
        _pin_gpu(config, workerinput)
    if config.args_source != pytest.Config.ArgsSource.ARGS:
        # `pytest --model=X` with no paths runs the shipped suite, not the project's testpaths.
        config.args = [str(SUITE_DIR)]
    if workerinput is None:
        config.pluginmanager.register(ControllerHooks(config.stash[STATE]), "mediconfusion-controller")
        if config.pluginmanager.hasplugin("xdist"):
            config.pluginmanager.register(XdistHooks(), "mediconfusion-xdist")


def _pin_gpu(config: pytest.Config, workerinput: dict[str, Any]) -> None:
    from mediconfusion_tests.gpus import gpus_for_worker

    plan = workerinput.get(PLAN_KEY, {})
    settings = plan.get("config", {})
    if settings.get("device", "auto") == "cpu":
        return
    gpus = gpus_for_worker(
        str(workerinput.get("workerid", "")), list(plan.get("gpus", [])), settings.get("gpus_per_worker", 1)
    )
    if gpus is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpus


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """-n auto with a model on GPUs: one worker per group of --gpus-per-worker GPUs."""
    if not config.getoption(options.DEST + "model") or config.getoption(options.DEST + "device") == "cpu":
        return None
    from mediconfusion_tests.gpus import visible_gpus

    gpus = visible_gpus()
    if not gpus:
        return None
    return max(1, len(gpus) // (config.getoption(options.DEST + "gpus_per_worker") or 1))


def pytest_report_header(config: pytest.Config) -> str | None:
    state = _state(config)
    if state is None:
        return None
    c = state.run_config
    return f"mediconfusion: model={c.model} mode={c.mode} dataset={c.dataset or 'default'} seed={c.seed}"


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """Controller: check data, images and model input before any worker or model starts."""
    state = _state(session.config)
    if state is None:
        return
    from mediconfusion_tests.plan import RunPlan, prepare_run

    try:
        if state.is_worker:
            workerinput = session.config.workerinput  # type: ignore[attr-defined]
            state.plan = RunPlan.from_dict(workerinput[PLAN_KEY])
            state.pairs = state.plan.load_pairs()
            if workerinput.get(ISOLATION_KEY):
                from mediconfusion_tests.isolation import IsolationFile

                state.isolation = IsolationFile(Path(workerinput[ISOLATION_KEY]))
        else:
            _start_controller(session.config, state, prepare_run)
    except MediConfusionError as exc:
        raise _usage(exc) from None
    assert state.plan is not None
    for category in state.plan.categories:
        session.config.addinivalue_line("markers", f"{marker_name(category)}: pairs in category {category}")


def _start_controller(config: pytest.Config, state: State, prepare_run: Callable[..., Any]) -> None:
    from mediconfusion_tests.gpus import visible_gpus
    from mediconfusion_tests.session import RunSession

    workers = int(getattr(config.option, "numprocesses", 0) or 0) if config.pluginmanager.hasplugin("xdist") else 0
    gpus = visible_gpus() if workers and state.run_config.device != "cpu" else []
    state.plan, state.pairs = prepare_run(state.run_config, state.registry, gpus, writes=not config.option.collectonly)
    if workers:
        from mediconfusion_tests.isolation import IsolationFile

        state.isolation = IsolationFile.create()
    spec = state.registry.parse(state.plan.config.model or "")
    alluredir = config.getoption(ALLURE_OPTION, default=None)
    state.session = RunSession(
        state.plan,
        state.pairs,
        spec,
        state.registry.entry(spec),
        Path(config.rootpath),
        workers=workers,
        allure_dir=Path(alluredir) if alluredir else None,
    )


class XdistHooks:
    """Registered on the controller only when pytest-xdist is installed."""

    @pytest.hookimpl
    def pytest_configure_node(self, node: Any) -> None:
        state = _state(node.config)
        if state is not None and state.plan is not None:
            node.workerinput[PLAN_KEY] = state.plan.to_dict()
            if state.isolation is not None:
                node.workerinput[ISOLATION_KEY] = str(state.isolation.path)

    @pytest.hookimpl
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        state = _state(node.config)
        if state is not None and state.session is not None and state.session.expected is None:
            state.session.expect([pair for i in ids if (pair := pair_id_of(i)) is not None])

    @pytest.hookimpl(tryfirst=True)
    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> Any:
        """Plain --dist=load becomes chunk-keeping load scheduling, so batches span pairs."""
        state = _state(config)
        if state is None or state.plan is None or state.session is None or config.getvalue("dist") != "load":
            return None
        from mediconfusion_tests.isolation import IsolationFile
        from mediconfusion_tests.runtime import chunking
        from mediconfusion_tests.xdist_scheduling import PairChunkScheduling

        if state.isolation is None:
            state.isolation = IsolationFile.create()
        chunk_of = chunking(state.pairs, state.plan.config.chunk_pairs)
        return PairChunkScheduling(config, log, chunk_of, state.isolation, state.session.note_crash)

    @pytest.hookimpl
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        state = _state(node.config)
        info = getattr(node, "workeroutput", {}).get(INFO_KEY)
        if state is not None and state.session is not None and info:
            state.session.model_info[node.gateway.id] = info


# -- collection -----------------------------------------------------------------
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "mediconfusion_pair" not in metafunc.fixturenames:
        return
    state = _state(metafunc.config)
    if state is None or state.plan is None:
        raise pytest.UsageError("the MediConfusion suite needs --model=NAME (see pytest --list-models)")
    params = []
    for pair in state.pairs:
        marks: list[Any] = [pytest.mark.mediconfusion]
        marks += [getattr(pytest.mark, marker_name(c)) for c in pair.all_categories]
        if pair.id in state.plan.skipped:
            marks.append(pytest.mark.skip(reason=state.plan.skipped[pair.id]))
        params.append(pytest.param(pair, id=pair.test_id, marks=marks))
    metafunc.parametrize("mediconfusion_pair", params)


def pytest_collection_finish(session: pytest.Session) -> None:
    state = _state(session.config)
    if state is not None:
        state.selected = [pair.id for item in session.items if (pair := _pair_of(item)) is not None]


def _pair_of(item: pytest.Item) -> Pair | None:
    callspec = getattr(item, "callspec", None)
    pair: Pair | None = callspec.params.get("mediconfusion_pair") if callspec else None
    return pair


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        pair = _pair_of(item)
        if pair is not None:
            item.user_properties.append((PAIR_PROPERTY, pair.id))


# -- fixtures --------------------------------------------------------------------
@pytest.fixture(scope="session")
def mediconfusion_model(request: pytest.FixtureRequest) -> Iterator[Model]:
    """The model under test, loaded once per process (one per xdist worker)."""
    from mediconfusion_tests.runtime import load_model

    state, plan = _require(request.config)
    spec = plan.config.model or ""
    try:
        model = load_model(state.registry, spec, plan.config)
    except MediConfusionError as exc:
        # A complete message (what is missing, what to install); the traceback adds nothing.
        pytest.fail(f"cannot load model {spec!r}: {exc}", pytrace=False)
    state.model_info = {**model.describe(), "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES")}
    yield model
    model.close()


@pytest.fixture(scope="session")
def mediconfusion_judge(request: pytest.FixtureRequest) -> Iterator[Model | None]:
    """The judge that scores free-form answers (--judge), or None."""
    from mediconfusion_tests.runtime import load_model

    state, plan = _require(request.config)
    if not plan.config.judge or plan.config.mode != "freeform":
        yield None
        return
    try:
        judge = load_model(state.registry, plan.config.judge, plan.config)
    except MediConfusionError as exc:
        pytest.fail(f"cannot load judge {plan.config.judge!r}: {exc}", pytrace=False)
    state.model_info["judge"] = judge.describe()
    yield judge
    judge.close()


@pytest.fixture(scope="session")
def mediconfusion_engine(
    mediconfusion_model: Model, mediconfusion_judge: Model | None, request: pytest.FixtureRequest
) -> Iterator[Engine]:
    from mediconfusion_tests.runtime import make_engine

    state, plan = _require(request.config)
    isolated = state.isolation.read if state.isolation is not None else frozenset
    engine = make_engine(mediconfusion_model, mediconfusion_judge, plan, state.pairs, state.selected, isolated)
    state.model_info["prompts"] = engine.prompts.name
    yield engine
    if engine.batcher.store is not None:
        state.model_info["store_unreadable"] = engine.batcher.store.unreadable
        engine.batcher.store.close()


@pytest.fixture
def record_pair_outcome(request: pytest.FixtureRequest) -> Callable[[PairOutcome], None]:
    """Attach a pair outcome to this test's report, for the controller's roll-up.

    The full outcome travels as an attribute of the report (xdist serialises it);
    user properties get only what a JUnit XML reader wants: class and categories.
    """

    def record(outcome: PairOutcome) -> None:
        request.node.stash[OUTCOME_KEY] = outcome.to_dict()
        categories = sorted(set(outcome.categories[0]) | set(outcome.categories[1]))
        request.node.user_properties.append(("failure_class", outcome.failure_class or "passed"))
        request.node.user_properties.append(("categories", "; ".join(categories)))
        if request.config.getoption(ALLURE_OPTION, default=None):
            _annotate_allure(request.config, outcome)

    return record


def _annotate_allure(config: pytest.Config, outcome: PairOutcome) -> None:
    from mediconfusion_tests.reporting.allure_case import annotate

    state, plan = _require(config)
    pair = next((p for p in state.pairs if p.id == outcome.pair_id), None)
    if pair is not None:
        annotate(outcome, pair, plan.layout, plan.config)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if call.when == "call" and OUTCOME_KEY in item.stash:
        report.mediconfusion_outcome = item.stash[OUTCOME_KEY]  # type: ignore[attr-defined]
    return report


def _require(config: pytest.Config) -> tuple[State, RunPlan]:
    state = _state(config)
    if state is None or state.plan is None:
        raise pytest.UsageError("MediConfusion fixtures need --model=NAME (see pytest --list-models)")
    return state, state.plan


# -- roll-up on the controller ------------------------------------------------------
def _properties(report: pytest.TestReport) -> dict[str, Any]:
    return {p[0]: p[1] for p in report.user_properties if len(p) == 2}


def _crash_line(report: pytest.TestReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None:
        return str(crash.message).splitlines()[0]
    lines = [line for line in str(report.longrepr).splitlines() if line.strip()]
    return lines[-1] if lines else "unknown error"


class ControllerHooks:
    """Registered in the process that owns the run (the xdist controller, or the only process)."""

    def __init__(self, state: State) -> None:
        self.state = state

    @property
    def session(self) -> RunSession | None:
        return self.state.session

    @pytest.hookimpl
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        if self.session is not None:
            self.session.expect([pair.id for item in session.items if (pair := _pair_of(item)) is not None])

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if self.session is None:
            return
        pair_id = _properties(report).get(PAIR_PROPERTY)
        if report.when not in ("setup", "call", "teardown"):
            # xdist's report of a worker that died ("???"): it carries no properties of ours.
            worker = getattr(getattr(report, "node", None), "gateway", None)
            self.session.add_crash(str(getattr(worker, "id", "?")), pair_id_of(report.nodeid) or report.nodeid)
            return
        if pair_id is None:
            if report.failed:
                self.session.add_other_failure(report.nodeid, report.when, _crash_line(report))
            return
        outcome = getattr(report, "mediconfusion_outcome", None)
        if outcome is not None and report.when == "call":
            self.session.add_outcome(outcome)
        elif report.skipped and report.when == "setup":
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else "skipped"
            self.session.add_skip(pair_id, str(reason).removeprefix("Skipped: "))
        elif report.failed and report.when in ("setup", "call"):
            self.session.add_error(pair_id, _crash_line(report))
        elif report.failed:
            self.session.add_teardown_error(report.nodeid, _crash_line(report))

    @pytest.hookimpl
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if self.state.isolation is not None:
            self.state.isolation.remove()
        if self.session is None or session.config.option.collectonly:
            return
        if self.state.model_info:
            self.session.model_info["main"] = self.state.model_info
        stopped = bool(session.shouldstop or session.shouldfail)
        session.exitstatus = self.session.finish(int(exitstatus), stopped)

    @pytest.hookimpl
    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        lines = self.session.terminal_lines() if self.session is not None else []
        if lines:
            terminalreporter.write_sep("=", "MediConfusion")
            for line in lines:
                # The writer drops the colour unless the output is a terminal (or --color=yes).
                terminalreporter.write_line(line, **_markup(line))


def _markup(line: str) -> dict[str, bool]:
    if line.startswith(("GATE FAILED", "PROBLEM", "WARNING", "  FAIL")):
        return {"red": True, "bold": not line.startswith("  ")}
    if line.startswith(("GATE PASSED", "  PASS")):
        return {"green": True, "bold": not line.startswith("  ")}
    if line.startswith("NOTE"):
        return {"yellow": True}
    return {}


def pytest_sessionfinish(session: pytest.Session) -> None:
    state = _state(session.config)
    if state is not None and state.is_worker:
        session.config.workeroutput[INFO_KEY] = state.model_info  # type: ignore[attr-defined]
