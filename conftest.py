"""Our own test configuration. Kept light: it also loads when users run the suite from here."""

from __future__ import annotations

import os

pytest_plugins = ["pytester"]

try:
    from hypothesis import HealthCheck, settings
except ImportError:  # users running the benchmark suite need not install hypothesis
    pass
else:
    settings.register_profile("ci", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    settings.register_profile("dev", max_examples=100, deadline=None)
    settings.load_profile("ci" if os.environ.get("CI") else "dev")
