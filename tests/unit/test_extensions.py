"""The registries themselves, and a metric from an installed package's entry point."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from typing import TYPE_CHECKING

import pytest

from mediconfusion_tests.errors import ConfigError
from mediconfusion_tests.extensions import Registry

if TYPE_CHECKING:
    from pathlib import Path


def test_a_registry_refuses_a_taken_name_a_bad_name_and_a_wrong_kind() -> None:
    registry: Registry[int] = Registry("numbers", lambda item: item if isinstance(item, int) else int("x"))
    registry.register("one", 1)
    with pytest.raises(ConfigError, match="numbers: 'one' is already registered"):
        registry.register("one", 2)
    registry.register("one", 2, replace=True)
    assert registry["one"] == 2
    with pytest.raises(ConfigError, match="numbers: 'two words' is not a usable name"):
        registry.register("two words", 3)
    with pytest.raises(ValueError, match="invalid literal"):
        registry.register("three", "3")
    assert registry.names() == ("one",)
    assert registry.get("missing") is None


def test_a_metric_from_an_installed_package_entry_point(tmp_path: Path) -> None:
    """A package (here a dist-info on sys.path) declares the metric; nothing else is needed to gate on it."""
    (tmp_path / "extra_metrics.py").write_text(
        textwrap.dedent(
            """
            from mediconfusion_tests.scoring.metrics import Metric
            from mediconfusion_tests.scoring.stats import Proportion

            def b_rate(pairs):
                return Proportion.of(sum(d == "B" for o in pairs for d in o.decisions), 2 * len(pairs))

            B_RATE = Metric(b_rate)
            """
        )
    )
    info = tmp_path / "extra_metrics-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: extra-metrics\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[mediconfusion_tests.metrics]\nb_rate = extra_metrics:B_RATE\n")
    code = textwrap.dedent(
        """
        import sys
        sys.path.insert(0, sys.argv[1])
        sys.path.insert(0, sys.argv[2])
        from helpers import outcome
        from mediconfusion_tests.results.gate import evaluate, parse_condition
        from mediconfusion_tests.scoring.metrics import compute_metrics

        metrics = compute_metrics([outcome("1", decisions=("B", "B")), outcome("2", decisions=("A", "B"))])
        print(metrics.overall.extra["b_rate"].value, evaluate([parse_condition("b_rate>=0.7")], metrics)[0].passed)
        """
    )
    tests = str(__import__("pathlib").Path(__file__).parents[1])
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path), tests], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["0.75", "True"]
