"""Our own test configuration (pytester comes from addopts in pyproject.toml).

pytest also loads this file whenever the shipped suite is collected from an
editable install, from any directory; so it defines no pytest_plugins and
imports hypothesis only for our own test runs, not for benchmark runs.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: drives report.html in headless Chromium (needs playwright + chromium)")
    config.addinivalue_line(
        "markers",
        "vllm: against a real vLLM server started here (`. scripts/vllm-env.sh` provides it; skipped without it "
        "unless MEDICONFUSION_REQUIRE_VLLM is set)",
    )
    config.addinivalue_line("markers", "unit: pure code, no pytester run, no model (seconds in all: pytest -m unit)")
    config.addinivalue_line(
        "markers", "acceptance: pytester runs, tiny models, subprocesses, browsers (pytest -m acceptance)"
    )
    if config.getoption("mediconfusion_model", default=None):
        return  # a MediConfusion suite run, not our tests
    try:
        from hypothesis import HealthCheck, settings
    except ImportError:
        return
    settings.register_profile("ci", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    settings.register_profile("dev", max_examples=100, deadline=None)
    settings.load_profile("ci" if os.environ.get("CI") else "dev")
