"""The Allure report: categories and quality gate as Allure 3 reads them, Allure 2 told apart, checked in Chromium.

The end-to-end tests need the ``allure`` command (npm install -g allure@3) and,
for the page itself, Playwright with Chromium; .ci/run installs both and makes
them required, elsewhere they skip. A screenshot of each tab is left in
$MEDICONFUSION_ARTIFACTS (default: artifacts/).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from conftest import require_browser
from mediconfusion_tests.reporting.allure_case import VERDICT_FILE

SAMPLE = ("--dataset=sample", "-p", "no:cacheprovider")

ARTIFACTS = Path(os.environ.get("MEDICONFUSION_ARTIFACTS", Path(__file__).resolve().parents[2] / "artifacts"))


def need_allure() -> None:
    if shutil.which("allure") is None:
        if os.environ.get("MEDICONFUSION_REQUIRE_ALLURE"):
            pytest.fail("the allure command (npm install -g allure@3) is required here")
        pytest.skip("no allure command (npm install -g allure@3)")


def embedded(page: Any, name: str) -> Any:
    """A data file the one-file report carries (base64 JSON in window.allureReportData)."""
    return json.loads(base64.b64decode(page.evaluate(f"() => window.allureReportData[{json.dumps(name)}]")))


@pytest.mark.browser
@pytest.mark.parametrize("gate", ["set_accuracy>=0.5", "set_accuracy>=0.95"])
def test_report_shows_failure_classes_counts_each_pair_once_and_carries_the_gate(
    scripted: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], gate: str
) -> None:
    pytest.importorskip("allure_pytest")
    need_allure()
    require_browser()
    from browser import open_page, wait_for_text

    from mediconfusion_tests.cli import main

    monkeypatch.setenv("MC_SCRIPT_WRONG_PAIRS", "90105,90109")
    monkeypatch.setenv("MC_SCRIPT_FAIL_PAIRS", "90111")
    alluredir = scripted.path / "allure"
    run = scripted.runpytest("--model=scripted", f"--alluredir={alluredir}", "--gate", gate, *SAMPLE)
    passed = gate.endswith("0.5")
    verdict = json.loads((alluredir / VERDICT_FILE).read_text())
    assert verdict["passed"] is False  # the model error is a problem of the run, whatever the threshold
    assert run.ret == 1
    history = scripted.path / "history.jsonl"
    site = scripted.path / "site"
    # The report is built; its exit status is its quality gate's, which failed here (the model error).
    assert main(["report", "allure", str(alluredir), "-o", str(site), "--history", str(history)]) == 1
    out = capsys.readouterr().out
    assert "quality gate FAILED, as the run's gate" in out
    assert "allure_stage" not in out
    assert "process finished" not in out
    assert len(history.read_text().splitlines()) == 1
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    # A CPU slowed down 8 times makes Allure's one-file page blank most times unless its data table is
    # declared before the app (settle_single_file); unslowed, once in about twenty openings.
    with open_page(site / "index.html", 1400, 1000, cpu_slowdown=8) as (page, errors):
        wait_for_text(page, "Quality Gates", 120)
        tree = embedded(page, "widgets/tree.json")
        root = tree["groupsById"][tree["root"]["groups"][0]]
        assert root["name"] == "MediConfusion"
        assert root["statistic"]["total"] == 16  # pairs with two categories are not counted twice
        gate_results = embedded(page, "widgets/quality-gate.json")
        shown = {r["rule"]: r["success"] for results in gate_results.values() for r in results}
        assert shown == {gate: passed, "run problems": False}
        categories = embedded(page, "widgets/categories.json")
        named = {
            node["name"]: node["statistic"]["total"]
            for node in categories["nodes"].values()
            if node["type"] == "category"
        }
        assert named == {"Wrong answer": 2, "Model error": 1}
        page.get_by_text("Quality Gates").first.click()
        wait_for_text(page, "run problems", 60)
        assert "model error" in page.inner_text("body")
        page.screenshot(path=str(ARTIFACTS / f"allure-quality-gate-{'pass' if passed else 'fail'}.png"))
        page.get_by_text("Categories").first.click()
        wait_for_text(page, "Wrong answer", 60)
        page.screenshot(path=str(ARTIFACTS / "allure-categories.png"))
        assert errors == []
