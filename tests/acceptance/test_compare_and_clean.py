"""`mediconfusion compare` labels and charts, per-category comparison intervals, `mediconfusion clean`, keep_runs."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from mediconfusion_tests.run.cleanup import run_folders

if TYPE_CHECKING:
    import pytest


def test_keep_runs_setting_prunes_after_each_run(pytester: pytest.Pytester) -> None:
    pytester.makefile(".toml", pyproject="[tool.mediconfusion]\nkeep_runs = 2\n")
    for _ in range(3):
        pytester.runpytest("--model=random", "--dataset=sample", "-p", "no:cacheprovider")
    runs = run_folders(pytester.path / "reports")
    assert len(runs) == 2
    latest = (pytester.path / "reports" / "latest").resolve()
    assert latest == runs[0].resolve()
    assert json.loads((latest / "results.json").read_text())["config"]["keep_runs"] == 2
