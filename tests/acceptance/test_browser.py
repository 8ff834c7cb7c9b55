"""report.html in a real browser: outcome groups drawn on opening, filters, search, sorting, full-size view.

Runs where Chromium and Playwright are installed (.ci/run installs both) and
leaves a screenshot in $MEDICONFUSION_ARTIFACTS (default: artifacts/) for CI.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers import read_results

pytestmark = pytest.mark.browser
ARTIFACTS = Path(os.environ.get("MEDICONFUSION_ARTIFACTS", Path(__file__).resolve().parents[2] / "artifacts"))


@pytest.fixture
def report(browser_ready: None, pytester: pytest.Pytester, sample_dir: Path) -> Path:
    pytester.runpytest(
        "--model=random", "--dataset=sample", f"--images={sample_dir / 'images'}", "-p", "no:cacheprovider"
    )
    return pytester.path / "reports" / "latest" / "report.html"


def visible(page) -> list[dict]:
    return page.eval_on_selector_all(
        "details.group[open] article.pair",
        "cards => cards.map(c => ({pair: c.dataset.pair, kind: c.dataset.class, "
        "categories: c.dataset.categories.split('|')}))",
    )


def open_group(page, kind: str) -> None:
    """Open one outcome group and wait for its cards (the toggle event draws them a moment later)."""
    page.click(f"details.group[data-class={kind}] > summary")
    page.wait_for_function(
        "kind => { const g = document.querySelector(`details.group[data-class=${kind}]`);"
        " const drawn = g.querySelectorAll('article.pair').length;"
        " return g.open && drawn === Number(g.querySelector('.count').textContent); }",
        arg=kind,
    )


def open_groups(page) -> None:
    for group in page.query_selector_all("details.group:not([open])"):
        open_group(page, group.get_attribute("data-class"))


def test_groups_filters_search_and_full_size_view(report: Path, pytester: pytest.Pytester) -> None:
    from browser import open_page

    pairs = read_results(pytester.path)["pairs"]
    failing = [p for p in pairs if p["failure_class"]]
    with open_page(report) as (page, errors):
        assert errors == []
        assert page.text_content("#counter") == "Matching 16 of 16 pairs"
        # Groups start closed: no card is drawn until a reader opens one.
        assert page.eval_on_selector_all("article.pair", "cards => cards.length") == 0
        counts = {
            g.get_attribute("data-class"): int(g.query_selector(".count").text_content())
            for g in page.query_selector_all("details.group")
        }
        classes = {p["failure_class"] or "passed" for p in pairs}
        assert counts == {c: sum(1 for p in pairs if (p["failure_class"] or "passed") == c) for c in classes}
        open_group(page, "confused")
        assert {c["pair"] for c in visible(page)} == {p["pair_id"] for p in failing if p["failure_class"] == "confused"}
        open_groups(page)
        assert len(visible(page)) == 16

        for box in page.query_selector_all('input[name="cat"]'):
            if box.get_attribute("value") != "Cerebral":
                box.uncheck()
        cerebral = {p["pair_id"] for p in pairs if "Cerebral" in p["categories"][0] + p["categories"][1]}
        assert {c["pair"] for c in visible(page)} == cerebral
        assert page.text_content("#counter") == f"Matching {len(cerebral)} of 16 pairs"

        for box in page.query_selector_all('input[name="cat"]'):
            box.check()
        page.fill("#search", "lung fields")
        assert {c["pair"] for c in visible(page)} == {"90106"}
        page.fill("#search", "")

        page.click("article.pair img.thumb >> nth=0")
        assert page.is_visible("#lightbox")
        source = page.get_attribute("#lightbox img", "src")
        assert source.startswith("data:image/jpeg;base64,")
        page.keyboard.press("Escape")
        assert not page.is_visible("#lightbox")

        # Sortable table: by set accuracy, lowest first, then highest first.
        header = page.query_selector_all("table.sortable thead th")[2]
        header.click()
        first = page.eval_on_selector("table.sortable tbody tr", "row => row.cells[2].dataset.sort")
        header.click()
        last = page.eval_on_selector("table.sortable tbody tr", "row => row.cells[2].dataset.sort")
        assert float(first) <= float(last)
        assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")

        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "report-browser-test.png"), full_page=True)
    assert (ARTIFACTS / "report-browser-test.png").stat().st_size > 10_000


def test_model_text_is_drawn_as_text(browser_ready: None, pytester: pytest.Pytester, sample_dir: Path) -> None:
    """Hostile raw answers reach the page as data and are drawn with textContent: nothing runs."""
    import json

    from browser import open_page

    evil = "<img src=x onerror=\"document.title='pwned'\">"
    answers = {
        pid: {"answer": {"im1": {"full_answer": evil}, "im2": {"full_answer": "A"}}}
        for pid in json.loads((sample_dir / "dataset.json").read_text())
    }
    (pytester.path / "evil.json").write_text(json.dumps(answers))
    pytester.runpytest("--model=replay:evil.json", "--dataset=sample", "-p", "no:cacheprovider")
    with open_page(pytester.path / "reports" / "latest" / "report.html") as (page, errors):
        open_groups(page)
        assert page.title() != "pwned"
        raws = page.eval_on_selector_all("pre.raw", "nodes => nodes.map(n => n.textContent)")
        assert evil in raws
        assert page.eval_on_selector_all("img[src=x]", "nodes => nodes.length") == 0
        assert errors == []


def test_probes_section_draws_intervals_and_the_perturbed_images(
    browser_ready: None, scripted: pytest.Pytester
) -> None:
    """--probes in the report: a chart with intervals, a table in percent, and for an image probe that did
    not hold each benchmark image beside its perturbed copy, all loaded."""
    from browser import open_page

    scripted.runpytest(
        "--model=pixel-hash",
        "--probes=order,image",
        "--probe-examples=2",
        "--seed=5",
        "--dataset=sample",
        "-p",
        "no:cacheprovider",
    )
    report = max((scripted.path / "reports").glob("*/report.html"), key=lambda p: p.stat().st_mtime)
    with open_page(report) as (page, errors):
        assert page.locator("#probes svg.chart rect.bar").count() == 2
        assert page.locator("#probes svg.chart line.whisker").count() >= 1
        cells = page.eval_on_selector_all("#probe-table tbody tr:first-child td", "c => c.map(x => x.textContent)")
        assert all(cell.endswith("]") and "%" in cell for cell in cells), cells
        card = page.locator("#probes article.pair:has(.images.probe4)").first
        assert "image · pair" in card.locator("header").inner_text()
        captions = card.locator(".caption").all_inner_texts()
        assert captions[0] == "image 1 (benchmark)"
        assert captions[1].startswith("image 1, ")
        loaded = card.locator("img.thumb").evaluate_all("imgs => imgs.map(i => i.complete && i.naturalWidth > 0)")
        assert loaded == [True, True, True, True]
        assert errors == []
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.locator("#probes").screenshot(path=str(ARTIFACTS / "report-probes.png"))
