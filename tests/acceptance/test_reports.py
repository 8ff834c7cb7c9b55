"""The files people read, parsed: report.html, JUnit XML, Allure results, the CI step summary."""

from __future__ import annotations

import json
import os
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from typing import TYPE_CHECKING

import pytest
from helpers import read_results

if TYPE_CHECKING:
    from pathlib import Path

SAMPLE = ("--dataset=sample", "-p", "no:cacheprovider")

EVIL = '<script>alert("pwned")</script><img src=x onerror=alert(1)>'


class Page(HTMLParser):
    """Collects the elements of a page with their attributes and the text inside <pre>."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.scripts: list[str] = []
        self.pre: list[str] = []
        self._stack: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.elements.append((tag, {k: v or "" for k, v in attrs}))
        self._stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if self._stack and self._stack[-1] == tag:
            self._stack.pop()

    def handle_data(self, data: str) -> None:
        if self._stack and self._stack[-1] == "script":
            self.scripts.append(data)
        if self._stack and self._stack[-1] == "pre":
            self.pre.append(data)

    def find(self, tag: str, **attrs: str) -> list[dict[str, str]]:
        return [a for t, a in self.elements if t == tag and all(attrs[k] in a.get(k, "").split() for k in attrs)]


def parse(path: Path) -> Page:
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def report_of(folder: Path) -> Path:
    return folder / "reports" / "latest" / "report.html"


def report_data(page: Page) -> dict:
    """The JSON block the page's script draws the pair cards from."""
    return json.loads(next(s for s in page.scripts if s.lstrip().startswith("{")))


@pytest.mark.parametrize("workers", [None, "2"])
def test_html_report_is_self_contained_and_complete(scripted: pytest.Pytester, workers: str | None) -> None:
    args = ("--model=scripted", "--batch-size=4", "--gate", "set_accuracy>=0.5", *SAMPLE)
    result = scripted.runpytest(*args) if workers is None else scripted.runpytest_subprocess(*args, "-n", workers)
    assert result.ret == 0
    page = parse(report_of(scripted.path))
    for tag, attrs in page.elements:
        for key in ("src", "href"):
            assert not attrs.get(key, "").startswith(("http:", "https:", "//")), (tag, attrs)
    assert not page.find("link")
    assert all("src" not in a for t, a in page.elements if t == "script")
    data = report_data(page)
    assert len(data["pairs"]) == 16
    assert {p["kind"] for p in data["pairs"]} == {"passed"}
    keys = [image["key"] for p in data["pairs"] for image in p["images"]]
    assert len(keys) == 32
    assert all(keys)
    assert set(data["thumbs"]) == set(data["full"]) == set(keys)  # each of the 15 images embedded once
    assert len(data["full"]) == 15
    assert all(v.startswith("data:image/jpeg;base64,") for v in [*data["thumbs"].values(), *data["full"].values()])
    # Pairs are grouped by outcome and drawn only when a group is opened: one group here, closed.
    groups = page.find("details", **{"class": "group"})
    assert [g["data-class"] for g in groups] == ["passed"]
    assert all("open" not in g for g in groups)
    text = report_of(scripted.path).read_text()
    assert "Release gate passed" in text
    assert "random guessing scores 25% set accuracy and 50% confusion" in text
    assert "Why pairs fail" in text
    assert "Letter bias" in text
    assert len(page.find("text", **{"class": "cat"})) == 3 * 6 + 2  # three charts by category, two with "All"
    assert len(page.find("tr")) == 1 + 6 + 1  # header, categories, All


def test_model_output_is_escaped(pytester: pytest.Pytester, sample_dir: Path) -> None:
    answers = {
        pid: {"answer": {"im1": {"full_answer": EVIL}, "im2": {"full_answer": "A"}}}
        for pid in json.loads((sample_dir / "dataset.json").read_text())
    }
    (pytester.path / "evil.json").write_text(json.dumps(answers))
    pytester.runpytest("--model=replay:evil.json", *SAMPLE)
    page = parse(report_of(pytester.path))
    assert len(page.find("script")) == 2  # the report's own data and code, nothing injected
    assert page.find("img", src="x") == []
    raw = report_of(pytester.path).read_text()
    assert "</script><img" not in raw
    data = report_data(page)
    assert {p["images"][0]["raw"] for p in data["pairs"]} == {EVIL}  # kept character for character, as data


def test_report_command_rebuilds_the_page(pytester: pytest.Pytester) -> None:
    from mediconfusion_tests.cli import main

    pytester.runpytest("--model=random", *SAMPLE)
    latest = pytester.path / "reports" / "latest"
    assert main(["report", str(latest), "-o", str(pytester.path / "again.html")]) == 0
    data = report_data(parse(pytester.path / "again.html"))
    assert len(data["pairs"]) == 16
    # random never looks at the images, but the sample's ship with the package, so the report shows them.
    assert all(image["key"] for p in data["pairs"] for image in p["images"])
    assert (pytester.path / "again.html").read_text() == (latest / "report.html").read_text()


@pytest.mark.parametrize("workers", [None, "2"])
def test_junit_xml_carries_class_and_categories(pytester: pytest.Pytester, workers: str | None) -> None:
    args = ("--model=random", "--junitxml=junit.xml", *SAMPLE)
    pytester.runpytest(*args) if workers is None else pytester.runpytest_subprocess(*args, "-n", workers)
    cases = ET.parse(pytester.path / "junit.xml").getroot().iter("testcase")
    seen = {}
    for case in cases:
        properties = {p.get("name"): p.get("value") for p in case.iter("property")}
        assert set(properties) == {"mediconfusion_pair", "failure_class", "categories"}
        seen[properties["mediconfusion_pair"]] = properties
    assert len(seen) == 16
    assert seen["90111"]["categories"] == "Musculoskeletal; Spinal"
    classes = {p["pair_id"]: p["failure_class"] or "passed" for p in read_results(pytester.path)["pairs"]}
    assert {pid: props["failure_class"] for pid, props in seen.items()} == classes


def test_step_summary_puts_the_verdict_first(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    summary = pytester.path / "step-summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    pytester.runpytest("--model=random", "--gate", "set_accuracy>=0.25", *SAMPLE)
    text = summary.read_text()
    assert text.startswith("## ❌ Release gate FAILED")
    assert "| **All** | **32** | **18.75** |" in text
    assert "## Most informative failures (10 of 13)" in text
    rows = [line for line in text.splitlines() if re.match(r"\| 901\d\d \|", line)]
    assert len(rows) == 10
    assert [row.split("|")[2].strip() for row in rows[:7]] == ["confused"] * 7


def test_terminal_colour_only_when_asked_and_fits_100_columns(pytester: pytest.Pytester) -> None:
    coloured = pytester.runpytest("--model=random", "--gate", "set_accuracy>=0.25", "--color=yes", *SAMPLE)
    assert "\x1b[31m\x1b[1mGATE FAILED" in coloured.stdout.str()
    plain = pytester.runpytest("--model=random", "--gate", "set_accuracy>=0.25", "--color=no", *SAMPLE)
    lines = plain.stdout.lines
    start = lines.index(next(line for line in lines if line.startswith("Category")))
    table = lines[start : start + 10]
    assert all(len(line) <= 100 for line in table)
    assert "\x1b[" not in plain.stdout.str()


def allure_results(folder: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in folder.glob("*-result.json")]


def pair_of(result: dict) -> str:
    """The pair id Allure shows as the case's parameter (it quotes values as repr)."""
    value = next(p["value"] for p in result["parameters"] if p["name"] == "mediconfusion_pair")
    return value.strip("'")


@pytest.mark.parametrize("workers", [None, "2"])
def test_allure_results_group_by_category_and_failure_class(
    scripted: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, workers: str | None
) -> None:
    pytest.importorskip("allure_pytest")
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.com")
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/vlm")
    monkeypatch.setenv("GITHUB_RUN_ID", "42")
    monkeypatch.setenv("MC_SCRIPT_FAIL_PAIRS", "90105")
    alluredir = scripted.path / "allure"
    args = ("--model=scripted", f"--alluredir={alluredir}", "--batch-size=2", *SAMPLE)
    scripted.runpytest(*args) if workers is None else scripted.runpytest_subprocess(*args, "-n", workers)
    results = {pair_of(r): r for r in allure_results(alluredir)}
    assert len(results) == 16
    case = results["90111"]
    assert case["name"] == "pair 90111: How do the vertebral bodies appear?"
    labels = [(label["name"], label["value"]) for label in case["labels"]]
    assert ("epic", "MediConfusion") in labels
    assert [v for n, v in labels if n == "feature"] == ["Musculoskeletal + Spinal"]
    assert {v for n, v in labels if n == "tag" and v.startswith("category:")} == {
        "category:Musculoskeletal",
        "category:Spinal",
    }
    assert ("story", "passed") in labels
    assert ("severity", "trivial") in labels
    assert ("tag", "model:scripted") in labels
    assert ("tag", "mode:mc") in labels
    names = sorted(a["name"] for a in case["attachments"])
    assert names == ["answers", "image 1 (90011)", "image 2 (90010)", "prompts"]
    assert all((alluredir / a["source"]).is_file() for a in case["attachments"])
    broken = results["90105"]
    assert ("story", "error") in [(label["name"], label["value"]) for label in broken["labels"]]
    categories = json.loads((alluredir / "categories.json").read_text())
    assert [c["name"] for c in categories][:3] == [
        "Model error",
        "Data error",
        "Confused (same answer for both images)",
    ]
    assert any(re.fullmatch(c["messageRegex"], broken["statusDetails"]["message"]) for c in categories[:1])
    environment = (alluredir / "environment.properties").read_text()
    assert "model=scripted\n" in environment
    assert "mode=mc\n" in environment
    executor = json.loads((alluredir / "executor.json").read_text())
    assert executor["buildUrl"] == "https://github.com/acme/vlm/actions/runs/42"


def test_allure_report_is_one_file_with_history(scripted: pytest.Pytester) -> None:
    import shutil

    from mediconfusion_tests.cli import main

    if shutil.which("allure") is None:
        if os.environ.get("MEDICONFUSION_REQUIRE_ALLURE"):
            pytest.fail("the allure command (npm install -g allure@3) is required here")
        pytest.skip("no allure command (npm install -g allure@3)")
    alluredir = scripted.path / "allure"
    scripted.runpytest("--model=scripted", f"--alluredir={alluredir}", *SAMPLE)
    history = scripted.path / "history.jsonl"
    for _ in range(2):  # the second build adds to the history the first one wrote
        assert (
            main(["report", "allure", str(alluredir), "-o", str(scripted.path / "site"), "--history", str(history)])
            == 0
        )
    page = (scripted.path / "site" / "index.html").read_text()
    assert "<script" in page
    assert len(history.read_text().splitlines()) == 2
