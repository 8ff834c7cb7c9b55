"""Gating against a baseline through the suite: identical, regressed, improved and mismatched runs; compare."""

from __future__ import annotations

import shutil
from html.parser import HTMLParser
from typing import TYPE_CHECKING

import pytest
from helpers import read_results

if TYPE_CHECKING:
    from pathlib import Path

SAMPLE = ("--dataset=sample", "-p", "no:cacheprovider", "--no-cache")
REGRESSED = "90101,90102,90103,90104,90105,90106,90107,90108"


def run_and_keep(scripted: pytest.Pytester, name: str, *args: str) -> Path:
    scripted.runpytest("--model=scripted", *SAMPLE, *args)
    target = scripted.path / f"{name}.json"
    newest = max((scripted.path / "reports").glob("*/results.json"), key=lambda path: path.stat().st_mtime)
    shutil.copy(newest, target)
    return target


def test_identical_runs_pass_with_p_one(scripted: pytest.Pytester) -> None:
    baseline = run_and_keep(scripted, "released")
    result = scripted.runpytest(
        "--model=scripted",
        *SAMPLE,
        f"--baseline={baseline}",
        "--fail-on-significant-regression",
        "--max-regressed-pairs=0",
        "--gate",
        "set_accuracy>=baseline",
    )
    assert result.ret == 0
    comparison = read_results(scripted.path)["baseline"]
    assert comparison["mcnemar"]["set_correct"]["p_value"] == 1.0
    assert comparison["regressions"] == []
    assert comparison["metrics"]["set_accuracy"]["difference"] == 0.0
    result.stdout.fnmatch_lines(
        ["compared with baseline * on 16 pairs both scored", "  PASS no significant regression*"]
    )


def test_a_constructed_regression_fails_the_gate(scripted: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    baseline = run_and_keep(scripted, "released")
    monkeypatch.setenv("MC_SCRIPT_WRONG_PAIRS", REGRESSED)
    result = scripted.runpytest(
        "--model=scripted",
        *SAMPLE,
        f"--baseline={baseline}",
        "--fail-on-significant-regression",
    )
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        [
            "set accuracy*100.00%*50.00%*-50.00 (*",
            "McNemar exact test: set-correct pairs 8 lost, 0 gained, p = 0.007812*",
            "regressed pairs (8): 90101, 90102*",
            "GATE FAILED",
            "  FAIL no significant regression: McNemar exact p = 0.007812 on set-correct pairs (8 lost, 0 gained*",
        ]
    )
    comparison = read_results(scripted.path)["baseline"]
    assert [r["pair_id"] for r in comparison["regressions"]] == REGRESSED.split(",")
    assert comparison["regressions"][0]["new"]["failure"].startswith("wrong on image 1: answered B, truth A")
    for extra in (["--max-regressed-pairs=7"], ["--gate", "set_accuracy>=baseline-0.02"]):
        assert scripted.runpytest("--model=scripted", *SAMPLE, f"--baseline={baseline}", *extra).ret == 1
    assert scripted.runpytest("--model=scripted", *SAMPLE, f"--baseline={baseline}", "--max-regressed-pairs=8").ret == 0


def test_a_constructed_improvement_passes(scripted: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MC_SCRIPT_WRONG_PAIRS", REGRESSED)
    baseline = run_and_keep(scripted, "released")
    monkeypatch.delenv("MC_SCRIPT_WRONG_PAIRS")
    result = scripted.runpytest(
        "--model=scripted",
        *SAMPLE,
        f"--baseline={baseline}",
        "--fail-on-significant-regression",
        "--gate",
        "set_accuracy>=baseline+0.25",
    )
    assert result.ret == 0
    comparison = read_results(scripted.path)["baseline"]
    assert len(comparison["improvements"]) == 8
    assert comparison["regressions"] == []
    summary = (scripted.path / "reports" / "latest" / "summary.md").read_text()
    assert "## Compared with baseline" in summary
    assert "### Improved pairs: 8" in summary
    assert 'id="baseline"' in (scripted.path / "reports" / "latest" / "report.html").read_text()


def test_a_baseline_from_another_mode_is_refused_unless_allowed(scripted: pytest.Pytester) -> None:
    baseline = run_and_keep(scripted, "released", "--mode=greedy")
    refused = scripted.runpytest("--model=scripted", *SAMPLE, f"--baseline={baseline}")
    assert refused.ret == pytest.ExitCode.USAGE_ERROR
    refused.stderr.fnmatch_lines(["*cannot be compared with this run: mode: baseline 'greedy', this run 'mc'*"])
    allowed = scripted.runpytest(
        "--model=scripted", *SAMPLE, f"--baseline={baseline}", "--allow-baseline-mismatch", "--gate", "set_accuracy>=0"
    )
    assert allowed.ret == 0
    allowed.stdout.fnmatch_lines(["WARNING: baseline differs (allowed): mode: baseline 'greedy', this run 'mc'"])
    assert read_results(scripted.path)["baseline"]["mismatch_allowed"] is True


def test_pairs_the_baseline_never_scored_fail_the_gate(scripted: pytest.Pytester) -> None:
    baseline = run_and_keep(scripted, "released", "-m", "cerebral")
    result = scripted.runpytest("--model=scripted", *SAMPLE, f"--baseline={baseline}", "--gate", "set_accuracy>=0")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["PROBLEM: baseline cannot be compared: pairs: 11 scored by this run but not by*"])
    subset = scripted.runpytest(
        "--model=scripted", *SAMPLE, f"--baseline={baseline}", "-m", "cerebral", "--gate", "set_accuracy>=baseline"
    )
    assert subset.ret == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--gate", "set_accuracy>=baseline"], "*compares with a baseline: pass --baseline RESULTS.json*"),
        (["--max-regressed-pairs=3"], "*compare with --baseline RESULTS.json*"),
        (["--baseline=nowhere.json"], "*--baseline *nowhere.json: not a readable mediconfusion-tests results.json*"),
    ],
)
def test_baseline_usage_errors(scripted: pytest.Pytester, args: list[str], message: str) -> None:
    result = scripted.runpytest("--model=scripted", *SAMPLE, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


class Table(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "tr":
            self.rows.append([])
        if tag == "td":
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None:
            self.rows[-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def test_compare_ranks_runs_and_tests_the_top_one(scripted: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    from mediconfusion_tests.cli import main

    best = run_and_keep(scripted, "best")
    monkeypatch.setenv("MC_SCRIPT_WRONG_PAIRS", REGRESSED)
    worse = run_and_keep(scripted, "worse")
    scripted.runpytest("--model=always-a", *SAMPLE)
    worst = scripted.path / "reports" / "latest"
    markdown, page = scripted.path / "board.md", scripted.path / "board.html"
    assert main(["compare", str(worse), str(worst), str(best), "--markdown", str(markdown), "--html", str(page)]) == 0
    rows = [line for line in markdown.read_text().splitlines() if line.startswith("| ")][1:]
    labels = [row.split("|")[2].strip() for row in rows[:3]]
    assert [label.split(" · ")[0] for label in labels] == ["scripted", "scripted", "always-a"]
    # The same settings run twice: the label once, told apart by the run id column (shown once per row).
    assert labels[0] == labels[1]
    run_ids = [row.split("|")[3].strip() for row in rows[:2]]
    assert run_ids[0] != run_ids[1]
    assert all(row.count(run_id) == 1 for row, run_id in zip(rows, run_ids, strict=False))
    assert rows[0].split("|")[4].strip().startswith("100.0")
    assert "p=0.00781 (8/0 on 16)" in rows[1]
    assert "random guessing (paper)" in rows[3]
    table = Table()
    table.feed(page.read_text())
    ranks = [row[0] for row in table.rows if row and row[0].isdigit()]
    assert ranks == ["1", "2", "3"]
    assert table.rows[-1][1] == "random guessing (paper)"
    assert page.read_text().count('class="chart delta"') == 2  # each runner-up against the top run
    # A subset is marked wherever the board is shown, with a warning.
    subset = run_and_keep(scripted, "subset", "--limit=5")
    assert main(["compare", str(best), str(subset), "--markdown", str(markdown), "--html", str(page)]) == 0
    assert "subset: 5 of 16 pairs" in markdown.read_text()
    assert "1 run(s) scored only part of the benchmark" in markdown.read_text()
    assert "[subset: 5 of 16 pairs]" in page.read_text()
