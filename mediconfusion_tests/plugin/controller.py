"""Hooks registered in the process that owns the run (the xdist controller, or the only process)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from mediconfusion_tests.nodeids import pair_id_of
from mediconfusion_tests.plugin.state import (
    INFO_KEY,
    ISOLATION_KEY,
    PAIR_PROPERTY,
    PLAN_KEY,
    PROBE_PROPERTY,
    State,
    state_of,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from mediconfusion_tests.data.schema import Pair
    from mediconfusion_tests.reporting.terminal import LineKind
    from mediconfusion_tests.run.collector import Collector

#: How each kind of summary line is drawn (pytest drops colour unless the output is a terminal).
MARKUP: dict[str, dict[str, bool]] = {
    "verdict-pass": {"green": True, "bold": True},
    "verdict-fail": {"red": True, "bold": True},
    "condition-pass": {"green": True},
    "condition-fail": {"red": True},
    "problem": {"red": True, "bold": True},
    "warning": {"red": True, "bold": True},
    "note": {"yellow": True},
}


def pair_of(item: pytest.Item) -> Pair | None:
    callspec = getattr(item, "callspec", None)
    pair: Pair | None = callspec.params.get("mediconfusion_pair") if callspec else None
    return pair


def probe_of(item: pytest.Item) -> tuple[str, Pair] | None:
    callspec = getattr(item, "callspec", None)
    probe: tuple[str, Pair] | None = callspec.params.get("mediconfusion_probe") if callspec else None
    return probe


def _properties(report: pytest.TestReport) -> dict[str, Any]:
    return {p[0]: p[1] for p in report.user_properties if len(p) == 2}


def _skip_reason(report: pytest.TestReport) -> str:
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else "skipped"
    return str(reason).removeprefix("Skipped: ")


def _crash_line(report: pytest.TestReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None:
        return str(crash.message).splitlines()[0]
    lines = [line for line in str(report.longrepr).splitlines() if line.strip()]
    return lines[-1] if lines else "unknown error"


class ControllerHooks:
    def __init__(self, state: State) -> None:
        self.state = state
        self.exit_status: int | None = None

    @property
    def collector(self) -> Collector | None:
        return None if self.state.session is None else self.state.session.collector

    @pytest.hookimpl
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        if self.collector is not None:
            self.collector.expect(pair.id for item in session.items if (pair := pair_of(item)) is not None)

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        collector = self.collector
        if collector is None:
            return
        pair_id = _properties(report).get(PAIR_PROPERTY)
        if report.when not in ("setup", "call", "teardown"):
            # xdist's report of a worker that died ("???"): it carries no properties of ours.
            worker = getattr(getattr(report, "node", None), "gateway", None)
            collector.add_crash(str(getattr(worker, "id", "?")), pair_id_of(report.nodeid) or report.nodeid)
            return
        probe = _properties(report).get(PROBE_PROPERTY)
        if probe is not None:
            self._probe_report(collector, str(probe), report)
            return
        if pair_id is None:
            if report.failed:
                collector.add_other_failure(report.nodeid, report.when, _crash_line(report))
            return
        outcome = getattr(report, "mediconfusion_outcome", None)
        if outcome is not None and report.when == "call":
            collector.add_outcome(outcome)
        elif report.skipped and report.when in ("setup", "call"):
            collector.add_skip(pair_id, _skip_reason(report))
        elif report.failed and report.when in ("setup", "call"):
            collector.add_error(pair_id, _crash_line(report))
        elif report.failed:
            collector.add_teardown_error(report.nodeid, _crash_line(report))

    @staticmethod
    def _probe_report(collector: Collector, probe: str, report: pytest.TestReport) -> None:
        """A probe case: its outcome, skip or error; an inconsistent probe fails its case, not the run."""
        outcome = getattr(report, "mediconfusion_probe", None)
        if outcome is not None and report.when == "call":
            collector.add_probe(outcome)
        elif report.skipped and report.when in ("setup", "call"):
            collector.add_probe_skip(probe, _skip_reason(report))
        elif report.failed and report.when in ("setup", "call"):
            collector.add_probe_error(probe, _crash_line(report))
        elif report.failed:
            collector.add_teardown_error(report.nodeid, _crash_line(report))

    @pytest.hookimpl
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if self.state.isolation is not None:
            self.state.isolation.remove()
        if self.state.budget_file is not None:
            self.state.budget_file.unlink(missing_ok=True)
        run = self.state.session
        if run is None or session.config.option.collectonly:
            return
        if self.state.model_info:
            run.collector.instances["main"] = self.state.model_info
        stopped = bool(session.shouldstop or session.shouldfail)
        session.exitstatus = self.exit_status = run.finish(int(exitstatus), stopped)

    def _junit_cases(self, config: pytest.Config) -> None:
        """After pytest wrote --junitxml: with --junit-cases=gate and a gate, the file agrees with the gate."""
        run = self.state.session
        path = _junit_path(config)
        if run is None or run.document is None or path is None or not path.is_file():
            return
        if run.document.config.junit_cases != "gate" or run.document.gate is None:
            return
        from mediconfusion_tests.reporting.junit_cases import rewrite_junit

        rewrite_junit(path, run.document)

    @pytest.hookimpl(trylast=True)
    def pytest_unconfigure(self, config: pytest.Config) -> None:
        """After pytest's own summary and counts: the benchmark's table, the verdict and why, last."""
        run = self.state.session
        self._junit_cases(config)
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if reporter is None or run is None or run.document is None:
            return
        reporter.write_sep("=", "MediConfusion")
        for text, kind in run.terminal_lines(self.exit_status):
            reporter.write_line(text, **markup(kind))


def _junit_path(config: pytest.Config) -> Path | None:
    xmlpath = getattr(config.option, "xmlpath", None)
    return Path(xmlpath) if xmlpath else None


def markup(kind: LineKind) -> dict[str, bool]:
    return MARKUP.get(kind, {})


class XdistHooks:
    """Registered on the controller only when pytest-xdist is installed."""

    @pytest.hookimpl
    def pytest_configure_node(self, node: Any) -> None:
        state = state_of(node.config)
        if state is not None and state.plan is not None:
            node.workerinput[PLAN_KEY] = state.plan.to_dict()
            if state.isolation is not None:
                node.workerinput[ISOLATION_KEY] = str(state.isolation.path)

    @pytest.hookimpl
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        state = state_of(node.config)
        if state is not None and state.session is not None and state.session.collector.expected is None:
            state.session.collector.expect(pair for i in ids if (pair := pair_id_of(i)) is not None)

    @pytest.hookimpl(tryfirst=True)
    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> Any:
        """Plain --dist=load becomes chunk-keeping load scheduling, so batches span pairs."""
        state = state_of(config)
        if state is None or state.plan is None or state.session is None or config.getvalue("dist") != "load":
            return None
        from mediconfusion_tests.plugin.xdist_scheduling import PairChunkScheduling
        from mediconfusion_tests.run.isolation import IsolationFile
        from mediconfusion_tests.run.runtime import chunking

        if state.isolation is None:
            state.isolation = IsolationFile.create()
        chunk_of = chunking(state.pairs, state.plan.config.chunk_pairs)
        return PairChunkScheduling(config, log, chunk_of, state.isolation, state.session.collector.note_crash)

    @pytest.hookimpl
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        state = state_of(node.config)
        info = getattr(node, "workeroutput", {}).get(INFO_KEY)
        if state is not None and state.session is not None and info:
            state.session.collector.instances[node.gateway.id] = info


def _budget_file(state: State) -> None:
    """A run-wide budget is counted in one file that every worker inherits through the environment."""
    import os
    import tempfile

    from mediconfusion_tests.models.api.client import BUDGET_ENV

    run = state.run_config
    if run.max_requests is None and run.max_cost is None:
        os.environ.pop(BUDGET_ENV, None)
        return
    handle, path = tempfile.mkstemp(prefix="mediconfusion-budget-", suffix=".json")
    os.close(handle)
    state.budget_file = Path(path)
    os.environ[BUDGET_ENV] = path


def _say(config: pytest.Config) -> Callable[[str], None]:
    """A line on the terminal before the session's header (or on stderr when there is no terminal)."""
    import sys

    reporter = config.pluginmanager.get_plugin("terminalreporter")

    def say(text: str) -> None:
        if reporter is not None:
            reporter.write_line(text)
            reporter.flush()
        else:
            print(text, file=sys.stderr, flush=True)

    return say


def start_controller(config: pytest.Config, state: State) -> None:
    """Check data, images and model input before any worker or model starts; make the session."""
    from mediconfusion_tests.plugin.gpus import visible_gpus
    from mediconfusion_tests.plugin.state import ALLURE_OPTION
    from mediconfusion_tests.run.isolation import IsolationFile
    from mediconfusion_tests.run.plan import prepare_run
    from mediconfusion_tests.run.session import RunSession

    _budget_file(state)
    workers = int(getattr(config.option, "numprocesses", 0) or 0) if config.pluginmanager.hasplugin("xdist") else 0
    gpus = visible_gpus() if workers and state.run_config.device != "cpu" else []
    state.plan, state.pairs = prepare_run(state.run_config, state.registry, gpus, writes=not config.option.collectonly)
    if workers:
        state.isolation = IsolationFile.create()
    spec = state.registry.parse(state.plan.config.model or "")
    prepare = state.registry.entry(spec).load_prepare()
    if prepare is not None and not config.option.collectonly:
        prepare(spec, state.plan.config, _say(config))
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
