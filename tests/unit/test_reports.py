"""Allure's build step names what it needs."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

    import pytest


def test_allure_build_says_how_to_get_node(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from mediconfusion_tests.reporting.allure_build import build_allure

    results = tmp_path / "allure"
    results.mkdir()
    (results / "x-result.json").write_text("{}")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert build_allure(results, tmp_path / "out", tmp_path / "history.jsonl") == 2
    assert "Allure 3 runs on Node.js" in capsys.readouterr().err
    assert build_allure(tmp_path / "missing", tmp_path / "out", tmp_path / "h.jsonl") == 2
    assert "run pytest with --alluredir=" in capsys.readouterr().err
