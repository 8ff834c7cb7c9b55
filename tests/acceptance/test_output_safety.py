"""Hostile pair text and model answers never reach a rendered output as markup."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

import pytest
from helpers import read_results

if TYPE_CHECKING:
    from pathlib import Path

SCRIPT = "<script>alert('pwned')</script>"

IMAGE = "<img src=x onerror=alert(1)>"

COMMENT = "<!-- hidden"

PAYLOADS = (SCRIPT, IMAGE, COMMENT)

HOSTILE_MODEL = """
from mediconfusion_tests.models.base import Answer, Model
from mediconfusion_tests.models.registry import ModelEntry

class Hostile(Model):
    name = "hostile"
    cacheable = False

    def answer(self, queries):
        return [Answer("<img src=x onerror=alert(1)> | <!-- hidden") for q in queries]

def pytest_mediconfusion_models():
    return [ModelEntry("hostile", "answers in markup", lambda spec, config: Hostile(), needs_images=False)]
"""


@pytest.fixture
def hostile(pytester: pytest.Pytester, sample_dir: Path) -> pytest.Pytester:
    folder = pytester.path / "bench"
    shutil.copytree(sample_dir, folder)
    records = json.loads((folder / "dataset.json").read_text())
    first = next(iter(records))
    records[first].update(question=f"Which? {SCRIPT}", option_A=f"{IMAGE}", option_B=f"{COMMENT} B")
    records[first]["category_1"] = [IMAGE]
    records[f"{first}{SCRIPT}"] = records.pop(first)
    (folder / "dataset.json").write_text(json.dumps(records))
    pytester.makeconftest(HOSTILE_MODEL)
    return pytester


def test_no_output_carries_hostile_markup(hostile: pytest.Pytester) -> None:
    result = hostile.runpytest_subprocess(
        "--model=hostile",
        f"--dataset={hostile.path / 'bench'}",
        "--junitxml=junit.xml",
        "--alluredir=allure-results",
        "-p",
        "no:cacheprovider",
    )
    assert result.ret == 1
    results = read_results(hostile.path)
    folder = hostile.path / "reports" / "latest"
    summary = (folder / "summary.md").read_text()
    assert "Which? &lt;script&gt;" in summary or "&lt;img" in summary
    for payload in PAYLOADS:
        assert payload not in summary
    lowered = summary.lower()
    assert "<script" not in lowered
    assert "<img" not in lowered
    assert "<!--" not in lowered

    page = (folder / "report.html").read_text()
    for payload in PAYLOADS:
        assert payload not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page

    junit = (hostile.path / "junit.xml").read_text()
    tree = ET.fromstring(junit)  # well-formed: every payload escaped
    assert not list(tree.iter("script"))
    assert not list(tree.iter("img"))
    for payload in PAYLOADS:
        assert payload not in junit

    descriptions = [
        json.loads(path.read_text()).get("description", "")
        for path in (hostile.path / "allure-results").glob("*-result.json")
    ]
    assert descriptions
    assert all("<" not in text for text in descriptions)
    assert any("&lt;script&gt;" in text for text in descriptions)
    # Names, labels and parameters are shown unescaped by Allure: no markup reaches them at all.
    shown = [
        str(value)
        for path in (hostile.path / "allure-results").glob("*-result.json")
        for result_ in [json.loads(path.read_text())]
        for value in (
            result_.get("name", ""),
            *(label["value"] for label in result_.get("labels", [])),
            *(parameter["value"] for parameter in result_.get("parameters", [])),
        )
    ]
    assert any("‹script›" in text or "alert('pwned')" in text for text in shown)
    for text in shown:
        assert "<" not in text, text
        assert ">" not in text, text
    assert results["counts"]["pairs_scored"] == 16
