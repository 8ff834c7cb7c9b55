"""The Allure configuration we write, without a run: categories, quality gate, Allure 2 told apart, refusals."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from typing import TYPE_CHECKING, Any

import pytest

from mediconfusion_tests.reporting.allure_build import build_allure, settle_single_file
from mediconfusion_tests.reporting.allure_config import CATEGORY_RULES, allure3_config

if TYPE_CHECKING:
    from pathlib import Path

VERDICT = {
    "schema": "mediconfusion-tests/allure-verdict",
    "passed": False,
    "checks": [
        {"rule": "set_accuracy>=0.5", "passed": True, "expected": ">= 0.5", "actual": "0.6", "message": "PASS ..."},
        {"rule": "set_accuracy>=0.5", "passed": False, "expected": ">= 0.5", "actual": "0.4", "message": "FAIL ..."},
        {"rule": "run problems", "passed": False, "expected": "none", "actual": "1", "message": "worker gw1 crashed"},
    ],
}


def load_config(tmp_path: Path, text: str) -> dict[str, Any]:
    """Import the generated allurerc.mjs in Node, as Allure does, and run its gate rules."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("no Node.js here")
    config = tmp_path / "allurerc.mjs"
    config.write_text(text, encoding="utf-8")
    script = (
        f"const c = (await import({json.dumps(config.as_uri())})).default;"
        "const gate = c.qualityGate;"
        "const results = gate ? await Promise.all(gate.use.map(async (r) => ({rule: r.rule,"
        " expected: gate.rules[0][r.rule], ...(await r.validate({})),"
        " message: r.message({})}))) : null;"
        "console.log(JSON.stringify({config: c, results, toArray: typeof [].values().toArray}));"
    )
    done = subprocess.run([node, "--input-type=module", "-e", script], capture_output=True, text=True, check=True)
    loaded: dict[str, Any] = json.loads(done.stdout)
    return loaded


def test_generated_configuration_loads_in_node_and_gives_back_the_verdict(tmp_path: Path) -> None:
    loaded = load_config(tmp_path, allure3_config(VERDICT, name="MediConfusion", history="h.jsonl", group_by=["epic"]))
    config = loaded["config"]
    assert config["categories"]["rules"] == CATEGORY_RULES
    assert config["plugins"]["awesome"]["options"] == {
        "singleFile": True,
        "groupBy": ["epic"],
        "reportName": "MediConfusion",
    }
    assert config["historyPath"] == "h.jsonl"
    # A condition given twice stays two rules; each gives back exactly what the run decided.
    assert [(r["rule"], r["success"], r["expected"], r["actual"]) for r in loaded["results"]] == [
        ("set_accuracy>=0.5", True, ">= 0.5", "0.6"),
        ("set_accuracy>=0.5 (2)", False, ">= 0.5", "0.4"),
        ("run problems", False, "none", "1"),
    ]
    assert loaded["results"][2]["message"] == "worker gw1 crashed"
    assert loaded["toArray"] == "function"  # what Allure 3.18's gate needs, also on Node.js 20


def test_no_verdict_means_no_quality_gate(tmp_path: Path) -> None:
    loaded = load_config(tmp_path, allure3_config(None, name="M", history="h", group_by=()))
    assert "qualityGate" not in loaded["config"]
    assert loaded["results"] is None


def fake_allure(folder: Path, version: str) -> Path:
    """An `allure` on PATH that answers --version and records the rest of its calls."""
    folder.mkdir(exist_ok=True)
    script = folder / "allure"
    script.write_text(
        f"#!{sys.executable}\n"
        "import sys, pathlib\n"
        f"if sys.argv[1:] == ['--version']:\n    print({version!r}); raise SystemExit(0)\n"
        "pathlib.Path(__file__).with_name('calls').open('a').write(' '.join(sys.argv[1:]) + '\\n')\n"
        "out = sys.argv[sys.argv.index('-o') + 1]\n"
        "pathlib.Path(out).mkdir(parents=True, exist_ok=True)\n"
        "(pathlib.Path(out) / 'index.html').write_text('<html>')\n"
    )
    script.chmod(0o755)
    return folder


def results_folder(tmp_path: Path) -> Path:
    results = tmp_path / "allure-results"
    results.mkdir()
    (results / "x-result.json").write_text("{}")
    return results


def test_allure2_is_named_and_builds_its_classic_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    results = results_folder(tmp_path)
    bin_dir = fake_allure(tmp_path / "bin", "2.29.0")
    monkeypatch.setenv("PATH", str(bin_dir))
    assert build_allure(results, tmp_path / "out", tmp_path / "h.jsonl") == 0
    captured = capsys.readouterr()
    assert "found Allure 2.29.0" in captured.err
    assert "no `awesome` report and no quality gate" in captured.err
    assert "npm install -g allure" in captured.err
    call = (bin_dir / "calls").read_text().split()
    assert call[:2] == ["generate", str(results)]
    assert "--single-file" in call
    assert "Allure 2 classic report" in captured.out


def test_unknown_allure_and_dangerous_output_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    results = results_folder(tmp_path)
    monkeypatch.setenv("PATH", str(fake_allure(tmp_path / "old", "1.5.4")))
    assert build_allure(results, tmp_path / "out", tmp_path / "h.jsonl") == 2
    assert "found Allure 1.5.4" in capsys.readouterr().err
    monkeypatch.setenv("PATH", str(fake_allure(tmp_path / "new", "3.18.0")))
    assert build_allure(results, results, tmp_path / "h.jsonl") == 2
    assert "would replace the results" in capsys.readouterr().err
    precious = tmp_path / "work"
    precious.mkdir()
    (precious / "notes.txt").write_text("mine")
    assert build_allure(results, precious, tmp_path / "h.jsonl") == 2
    assert "holds something other than an Allure report" in capsys.readouterr().err
    assert (precious / "notes.txt").read_text() == "mine"


#: The order of Allure 3.18's one-file page: options, the app, then the data table and its filling.
ONE_FILE_PAGE = """<!DOCTYPE html><html><HEAD lang="en"><meta charset="utf-8">
<script>window.allureReportOptions = {};</script>
<script src="data:text/javascript;base64,QVBQ"></script></HEAD><body><div id="app"></div>
<script async>
  window.allureReportDataReady = false;
  window.allureReportData = window.allureReportData || {};
</script>
<script defer>Promise.allSettled([]).then(function(){ window.allureReportDataReady = true; })</script>
</body></html>"""


def test_one_file_page_declares_its_data_before_any_script(tmp_path: Path) -> None:
    page = tmp_path / "index.html"
    page.write_text(ONE_FILE_PAGE, encoding="utf-8")
    assert settle_single_file(page) is True
    text = page.read_text(encoding="utf-8")
    early = "<script>window.allureReportData = window.allureReportData || {};</script>"
    declared = text.index(early)
    assert declared < text.index("<script>window.allureReportOptions")
    assert declared < text.index('src="data:text/javascript')
    assert text.startswith(f'<!DOCTYPE html><html><HEAD lang="en">{early}')
    assert text.replace(early, "", 1) == ONE_FILE_PAGE  # nothing else touched
    assert settle_single_file(page) is False  # a second build step leaves it as it is
    assert page.read_text(encoding="utf-8") == text


def test_pages_without_embedded_data_are_left_alone(tmp_path: Path) -> None:
    page = tmp_path / "index.html"
    served = ONE_FILE_PAGE.replace("window.allureReportDataReady = false;", "")  # a report served by a web server
    page.write_text(served, encoding="utf-8")
    assert settle_single_file(page) is False
    assert page.read_text(encoding="utf-8") == served
