from __future__ import annotations

import json
import subprocess
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pytest


def test_summary_recomputes_the_table_of_a_run(pytester: pytest.Pytester) -> None:
    pytester.runpytest("--model=random", "--dataset=sample", "--gate", "set_accuracy>=0.5", "-p", "no:cacheprovider")
    latest = pytester.path / "reports" / "latest"
    result = subprocess.run(
        [sys.executable, "-m", "mediconfusion_tests.cli", "summary", str(latest)], capture_output=True, text=True
    )
    assert result.returncode == 1, result.stderr  # the gate it prints failed
    assert "model random · mode mc · dataset sample" in result.stdout
    assert "All                     32     18.75" in result.stdout
    assert "gate FAILED" in result.stdout


def test_summary_detects_tampered_metrics(pytester: pytest.Pytester) -> None:
    pytester.runpytest("--model=random", "--dataset=sample", "-p", "no:cacheprovider")
    path = pytester.path / "reports" / "latest" / "results.json"
    data = json.loads(path.read_text())
    data["metrics"]["overall"]["set_accuracy"]["k"] = 9
    path.write_text(json.dumps(data))
    from mediconfusion_tests.cli import main

    assert main(["summary", str(path)]) == 1


def test_summary_rejects_other_files(tmp_path) -> None:
    from mediconfusion_tests.cli import main

    (tmp_path / "x.json").write_text("{}")
    assert main(["summary", str(tmp_path / "x.json")]) == 2
