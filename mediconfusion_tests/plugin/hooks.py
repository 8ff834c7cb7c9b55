"""The pytest plugin (entry point ``mediconfusion``): options, configuration and collection hooks.

Imports here stay light (no torch, transformers or datasets) so the plugin
loads fast and ``pytest --help`` works without them. Without --model it adds
one option group and nothing else: markers, fixtures and the controller's hooks
are registered only for a benchmark run. The controller's work lives in
run/session.py, each worker's in run/engine.py.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from mediconfusion_tests.errors import MediConfusionError
from mediconfusion_tests.nodeids import marker_name
from mediconfusion_tests.plugin import hookspecs, options
from mediconfusion_tests.plugin.controller import ControllerHooks, XdistHooks, pair_of, probe_of, start_controller
from mediconfusion_tests.plugin.state import (
    ISOLATION_KEY,
    OUTCOME_KEY,
    PAIR_PROPERTY,
    PLAN_KEY,
    PROBE_KEY,
    PROBE_PROPERTY,
    STATE,
    State,
    state_of,
    usage_error,
)
from mediconfusion_tests.plugin.terminal import TerminalHooks
from mediconfusion_tests.scoring.probes import PROBES

if TYPE_CHECKING:
    from collections.abc import Generator

    from mediconfusion_tests.data.schema import Pair
    from mediconfusion_tests.models.registry import Registry

SUITE_DIR = Path(__file__).parents[1] / "suite"
#: The benchmark's categories, registered with --model up front so --strict-markers passes at once.
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
        raise usage_error(exc) from None
    for entry in entries:
        argument = ("[:ARG]" if entry.argument_optional else ":ARG") if entry.takes_argument else ""
        print(f"{entry.name + argument:<14} modes {','.join(sorted(entry.modes)):<26} {entry.summary}")
    return 0


def _register_writers(config: pytest.Config) -> None:
    """Report writers from pytest_mediconfusion_writers, for the controller, which writes the run folder."""
    from mediconfusion_tests.run.writer import WRITERS

    for found in config.hook.pytest_mediconfusion_writers():
        for name, writer in (found or {}).items():
            WRITERS.register(name, writer, replace=True)


def pytest_configure(config: pytest.Config) -> None:
    run_config = options.read_config(config)
    if not run_config.model:
        return
    workerinput = getattr(config, "workerinput", None)
    try:
        _register_secrets(run_config.env_file)
        registry = _registry(config)
        registry.parse(run_config.model)
        if workerinput is None:
            _register_writers(config)
    except MediConfusionError as exc:
        raise usage_error(exc) from None
    config.addinivalue_line("markers", "mediconfusion: a MediConfusion pair case")
    config.addinivalue_line("markers", "probe: a robustness probe of a MediConfusion pair (--probes)")
    for probe in PROBES:
        config.addinivalue_line("markers", f"{probe}: the {probe} probe (--probes)")
    for category in KNOWN_CATEGORIES:
        config.addinivalue_line("markers", f"{marker_name(category)}: MediConfusion pairs in category {category}")
    config.stash[STATE] = State(run_config, registry, is_worker=workerinput is not None)
    from mediconfusion_tests.plugin import fixtures

    config.pluginmanager.register(fixtures, "mediconfusion-fixtures")
    if workerinput is not None:
        _pin_gpu(workerinput)
        _pin_threads(workerinput)
    if config.args_source != pytest.Config.ArgsSource.ARGS:
        # `pytest --model=X` with no paths runs the shipped suite, not the project's testpaths.
        config.args = [str(SUITE_DIR)]
    if workerinput is None:
        config.pluginmanager.register(ControllerHooks(config.stash[STATE]), "mediconfusion-controller")
        config.pluginmanager.register(TerminalHooks(config, config.stash[STATE]), "mediconfusion-terminal")
        if config.pluginmanager.hasplugin("xdist"):
            config.pluginmanager.register(XdistHooks(), "mediconfusion-xdist")


def _register_secrets(env_file: str | None) -> None:
    """Before any model is built, in every process: the credentials every written text is scrubbed of."""
    from mediconfusion_tests.models.api.secrets import read_env_file
    from mediconfusion_tests.redaction import register_environment

    register_environment(read_env_file(Path(env_file)) if env_file else None)


def _pin_threads(workerinput: dict[str, Any]) -> None:
    """CPU threads per worker: its share of the cores (or --threads-per-worker), unless the user set them."""
    from mediconfusion_tests.plugin.gpus import THREAD_VARIABLES, threads_for_worker, usable_cores

    settings = workerinput.get(PLAN_KEY, {}).get("config", {})
    requested = settings.get("threads_per_worker")
    if not requested and any(name in os.environ for name in THREAD_VARIABLES):
        return
    threads = threads_for_worker(int(workerinput.get("workercount", 1) or 1), usable_cores(), requested)
    for name in THREAD_VARIABLES:
        os.environ[name] = str(threads)
    import sys

    torch = sys.modules.get("torch")
    if torch is not None:  # already imported (a conftest did): set it directly as well
        torch.set_num_threads(threads)


def _pin_gpu(workerinput: dict[str, Any]) -> None:
    from mediconfusion_tests.plugin.gpus import gpus_for_worker

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
    from mediconfusion_tests.plugin.gpus import visible_gpus

    gpus = visible_gpus()
    if not gpus:
        return None
    return max(1, len(gpus) // (config.getoption(options.DEST + "gpus_per_worker") or 1))


def pytest_report_header(config: pytest.Config) -> str | None:
    state = state_of(config)
    if state is None:
        return None
    # The plan holds the dataset the run resolved (the model's default when none was given).
    c = state.plan.config if state.plan is not None else state.run_config
    return f"mediconfusion: model={c.model} mode={c.mode} dataset={c.dataset or 'hub'} seed={c.seed}"


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """Controller: check data, images and model input before any worker or model starts."""
    state = state_of(session.config)
    if state is None:
        return
    from mediconfusion_tests.run.plan import RunPlan

    try:
        if state.is_worker:
            workerinput = session.config.workerinput  # type: ignore[attr-defined]
            state.plan = RunPlan.from_dict(workerinput[PLAN_KEY])
            state.pairs = state.plan.load_pairs()
            if workerinput.get(ISOLATION_KEY):
                from mediconfusion_tests.run.isolation import IsolationFile

                state.isolation = IsolationFile(Path(workerinput[ISOLATION_KEY]))
        else:
            start_controller(session.config, state)
    except MediConfusionError as exc:
        raise usage_error(exc) from None
    for category in state.plan.categories if state.plan is not None else ():
        session.config.addinivalue_line("markers", f"{marker_name(category)}: pairs in category {category}")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    wanted = {"mediconfusion_pair", "mediconfusion_probe"} & set(metafunc.fixturenames)
    if not wanted:
        return
    state = state_of(metafunc.config)
    if state is None or state.plan is None:
        raise pytest.UsageError("the MediConfusion suite needs --model=NAME (see pytest --list-models)")
    from mediconfusion_tests.run.shards import select

    pairs = select(state.pairs[: state.plan.config.limit], state.plan.config.shard)
    if "mediconfusion_probe" in wanted:
        metafunc.parametrize("mediconfusion_probe", _probe_params(state, pairs))
        return
    params = []
    for pair in pairs:
        marks: list[Any] = [pytest.mark.mediconfusion]
        marks += [getattr(pytest.mark, marker_name(c)) for c in pair.all_categories]
        if pair.id in state.plan.skipped:
            marks.append(pytest.mark.skip(reason=state.plan.skipped[pair.id]))
        params.append(pytest.param(pair, id=pair.test_id, marks=marks))
    metafunc.parametrize("mediconfusion_pair", params)


def _probe_params(state: State, pairs: list[Pair]) -> list[Any]:
    from mediconfusion_tests.scoring.probes import paraphrased

    plan = state.plan
    assert plan is not None  # noqa: S101 - checked by the caller
    # The sample's images are there even for models that read none: perturbing them would prove nothing.
    reads_pixels = (
        plan.layout is not None and state.registry.entry(state.registry.parse(plan.config.model or "")).needs_images
    )
    params = []
    for probe in plan.config.probe_names:
        for pair in pairs:
            marks: list[Any] = [pytest.mark.probe, getattr(pytest.mark, probe)]
            marks += [getattr(pytest.mark, marker_name(c)) for c in pair.all_categories]
            reason = plan.skipped.get(pair.id)
            if reason is None and probe == "paraphrase" and paraphrased(pair) is None:
                reason = "the dataset has no paraphrase of this pair (AI_question, AI_option_A, AI_option_B)"
            if reason is None and probe == "image" and not reads_pixels:
                reason = "the model reads no pixels: nothing to perturb"
            if reason is not None:
                marks.append(pytest.mark.skip(reason=reason))
            params.append(pytest.param((probe, pair), id=f"{probe}-{pair.test_id}", marks=marks))
    return params


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: object) -> list[Any] | None:
    """No probe cases at all (not even an empty parameter set) when --probes is not given."""
    if name != "test_probe" or not getattr(obj, "__mediconfusion_probe__", False):
        return None
    state = state_of(collector.config)
    if state is None or state.plan is None or not state.plan.config.probe_names:
        return []
    return None


def pytest_collection_finish(session: pytest.Session) -> None:
    state = state_of(session.config)
    if state is not None:
        state.selected = [pair.id for item in session.items if (pair := pair_of(item)) is not None]
        from mediconfusion_tests.plugin.upcoming import Upcoming

        state.upcoming = Upcoming(session)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    state = state_of(item.config)
    if state is not None and state.upcoming is not None:
        state.upcoming.running(item)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        pair = pair_of(item)
        if pair is not None:
            item.user_properties.append((PAIR_PROPERTY, pair.id))
        probe = probe_of(item)
        if probe is not None:
            item.user_properties.append((PROBE_PROPERTY, f"{probe[0]}:{probe[1].id}"))


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    # Innermost (trylast): the report is scrubbed before any other plugin (Allure, JUnit, xdist) reads it.
    report = yield
    if call.when == "call" and OUTCOME_KEY in item.stash:
        report.mediconfusion_outcome = item.stash[OUTCOME_KEY]  # type: ignore[attr-defined]
    if call.when == "call" and PROBE_KEY in item.stash:
        report.mediconfusion_probe = item.stash[PROBE_KEY]  # type: ignore[attr-defined]
    _scrub_report(report)
    return report


def _scrub_report(report: pytest.TestReport) -> None:
    """No secret in a traceback (with -l its locals), a captured output section or a skip reason."""
    from mediconfusion_tests.redaction import contains_secret, known, scrub

    if not known():
        return
    if isinstance(report.longrepr, tuple):  # a skip: (file, line, reason)
        path, line, reason = report.longrepr
        report.longrepr = (path, line, scrub(reason))
    elif report.longrepr is not None:
        text = str(report.longrepr)
        if contains_secret([text]):
            report.longrepr = scrub(text)
    report.sections = [(name, scrub(content)) for name, content in report.sections]


def pytest_sessionfinish(session: pytest.Session) -> None:
    from mediconfusion_tests.plugin.state import INFO_KEY

    state = state_of(session.config)
    if state is not None and state.is_worker:
        session.config.workeroutput[INFO_KEY] = state.model_info  # type: ignore[attr-defined]
