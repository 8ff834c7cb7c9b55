"""A benchmark-shaped terminal for --model runs: letters by class, a live progress line, the verdict last.

A failing pair case is counted under its class (``11 confused, 5 passed``), shows
as ``C``/``W``/``I``/``E`` (``CONFUSED``... with -v) and prints no traceback block:
its one-line reason is listed with the others in the MediConfusion section, which
comes after pytest's own summary and ends with the exit status and why. ``-v``,
``-rA`` or an explicit ``--tb`` bring back pytest's full detail (failed pair cases
are then ``failed`` as usual, with their blocks).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import pytest

from mediconfusion_tests.plugin.state import PAIR_PROPERTY, PROBE_PROPERTY

if TYPE_CHECKING:
    from mediconfusion_tests.plugin.state import State

#: failure class -> (letter, word shown with -v, category in pytest's final counts)
CLASSES: dict[str, tuple[str, str, str]] = {
    "confused": ("C", "CONFUSED", "confused"),
    "wrong": ("W", "WRONG", "wrong"),
    "invalid": ("I", "INVALID", "invalid"),
    "error": ("E", "MODEL ERROR", "model error"),
}
#: A failing probe case: (letter, word shown with -v, category in pytest's final counts), by its result.
PROBE_CLASSES: dict[str, tuple[str, str, str]] = {
    "inconsistent": ("X", "INCONSISTENT", "inconsistent probe"),
    "error": ("E", "PROBE ERROR", "probe error"),
}
#: The live line is redrawn at most this often (seconds).
REDRAW_S = 0.2


def wants_detail(config: pytest.Config) -> bool:
    """pytest's own detail for pair cases: -v, -rA, or a --tb style the user chose."""
    option = config.option
    return bool(option.verbose > 0 or option.tbstyle != "auto" or "A" in (option.reportchars or ""))


def failure_class(report: pytest.TestReport) -> str | None:
    """The class of a failing pair case's call report; None for anything else (a passing pair included)."""
    properties = dict(p for p in report.user_properties if len(p) == 2)
    if PAIR_PROPERTY not in properties or report.when != "call" or not report.failed:
        return None
    value = properties.get("failure_class")
    return str(value) if value in CLASSES else None


def probe_class(report: pytest.TestReport) -> str | None:
    """The result of a failing probe case's call report (inconsistent or error); None for anything else."""
    properties = dict(p for p in report.user_properties if len(p) == 2)
    if PROBE_PROPERTY not in properties or report.when != "call" or not report.failed:
        return None
    return "error" if properties.get("probe_result") == "error" else "inconsistent"


def _has(report: pytest.TestReport, name: str) -> bool:
    return any(len(p) == 2 and p[0] == name for p in report.user_properties)


class TerminalHooks:
    """Registered on the controller of a --model run that has a terminal reporter."""

    def __init__(self, config: pytest.Config, state: State) -> None:
        self.config = config
        self.state = state
        self.detail = wants_detail(config)
        self.reporter: Any = None
        self.live = False
        self.counts: dict[str, int] = {}
        self.probe_counts: dict[str, int] = {}
        #: Probe cases collected (the controller learns it from the first worker's collection under xdist).
        self.probe_total: int | None = None
        self.started: float | None = None
        self.drawn = 0.0

    @pytest.hookimpl
    def pytest_sessionstart(self) -> None:
        # The terminal reporter registers itself after our pytest_configure: look it up now.
        self.reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        verbose = self.config.option.verbose
        self.live = bool(self.reporter is not None and self.reporter.isatty and not self.detail and verbose >= 0)

    @pytest.hookimpl(tryfirst=True)
    def pytest_report_teststatus(self, report: pytest.TestReport, config: pytest.Config) -> tuple[str, str, str] | None:
        probe = probe_class(report)
        if probe is not None:
            letter, word, category = PROBE_CLASSES[probe]
            return ("failed" if self.detail else category), "" if self.live else letter, word
        kind = failure_class(report)
        if kind is None:
            counted = self._is_pair(report) or _has(report, PROBE_PROPERTY)
            if self.live and report.when == "call" and report.passed and counted:
                return "passed", "", "PASSED"
            return None
        letter, word, category = CLASSES.get(kind, ("F", "FAILED", "failed"))
        if self.detail:
            category = "failed"
        return category, "" if self.live else letter, word

    @staticmethod
    def _is_pair(report: pytest.TestReport) -> bool:
        return any(len(p) == 2 and p[0] == PAIR_PROPERTY for p in report.user_properties)

    @pytest.hookimpl
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        if session.items:
            self.probe_total = sum(1 for item in session.items if "test_probe[" in item.nodeid)

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        if self.probe_total is None:
            self.probe_total = sum(1 for nodeid in ids if "test_probe[" in nodeid)

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if not self.live or report.when != "call":
            return
        if _has(report, PROBE_PROPERTY):
            kind = probe_class(report) or ("consistent" if report.passed else "failed")
            self.probe_counts[kind] = self.probe_counts.get(kind, 0) + 1
        elif self._is_pair(report):
            kind = failure_class(report) or ("passed" if report.passed else "failed")
            self.counts[kind] = self.counts.get(kind, 0) + 1
        else:
            return
        if self.started is None:
            self.started = time.monotonic()
        self._draw()

    def _draw(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.drawn < REDRAW_S:
            return
        self.drawn = now
        session = self.state.session
        total = len(session.collector.expected or ()) if session is not None else 0
        done = sum(self.counts.values())
        elapsed = max(now - (self.started or now), 1e-9)
        rate = done / elapsed if done > 1 else 0.0
        left = int((total - done) / rate) if rate and total else None
        if total and done >= total:
            eta = f" · done in {elapsed:.1f} s"
        else:
            eta = f" · ETA {left // 60}:{left % 60:02d}" if left is not None else ""
        classes = ", ".join(f"{n} {k}" for k, n in sorted(self.counts.items(), key=lambda kv: -kv[1]))
        line = f"MediConfusion {done}/{total} pairs · {rate:.1f} pairs/s{eta} · {classes}"
        if self.probe_total:
            asked = sum(self.probe_counts.values())
            held = ", ".join(f"{n} {k}" for k, n in sorted(self.probe_counts.items(), key=lambda kv: -kv[1]))
            line += f" · probes {asked}/{self.probe_total}" + (f": {held}" if held else "")
        width = self.reporter._tw.fullwidth - 1
        self.reporter._tw.write("\r" + line[:width].ljust(width), flush=True)

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self) -> None:
        if self.live and (self.counts or self.probe_counts):
            self._draw(force=True)
            self.reporter._tw.line()
