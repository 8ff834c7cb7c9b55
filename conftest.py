"""Our own test configuration (pytester comes from addopts in pyproject.toml).

Kept light and free of pytest_plugins: pytest also loads this file whenever the
shipped suite is collected from an editable install, from any directory.
"""

from __future__ import annotations

import os

try:
    from hypothesis import HealthCheck, settings
except ImportError:  # users running the benchmark suite need not install hypothesis
    pass
else:
    settings.register_profile("ci", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    settings.register_profile("dev", max_examples=100, deadline=None)
    settings.load_profile("ci" if os.environ.get("CI") else "dev")
