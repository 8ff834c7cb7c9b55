"""report.html in a real browser: filters hide the right cards, search, passing toggle, full-size view.

Runs where Chromium and Playwright are installed (.ci/run installs both) and
leaves a screenshot in $MEDICONFUSION_ARTIFACTS (default: artifacts/) for CI.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from browser import chromium_path
from helpers import read_results

pytestmark = pytest.mark.browser
ARTIFACTS = Path(os.environ.get("MEDICONFUSION_ARTIFACTS", Path(__file__).resolve().parents[1] / "artifacts"))


@pytest.fixture
def report(pytester: pytest.Pytester, sample_dir: Path) -> Path:
    required = bool(os.environ.get("MEDICONFUSION_REQUIRE_BROWSER"))  # .ci/run sets it: no silent skip in CI
    try:
        import playwright  # noqa: F401
    except ImportError:
        if required:
            pytest.fail("playwright is required here (pip install playwright)")
        pytest.skip("playwright is not installed")
    if chromium_path() is None:
        if required:
            pytest.fail("Chromium is required here (apt-get install chromium)")
        pytest.skip("no Chromium here (apt-get install chromium)")
    pytester.runpytest(
        "--model=random", "--dataset=sample", f"--images={sample_dir / 'images'}", "-p", "no:cacheprovider"
    )
    return pytester.path / "reports" / "latest" / "report.html"


def visible(page) -> list[dict]:
    return page.eval_on_selector_all(
        "article.pair:not([hidden])",
        "cards => cards.map(c => ({pair: c.dataset.pair, kind: c.dataset.class, "
        "categories: c.dataset.categories.split('|')}))",
    )


def test_filters_search_toggle_and_full_size_view(report: Path, pytester: pytest.Pytester) -> None:
    from browser import open_page

    pairs = read_results(pytester.path)["pairs"]
    failing = [p for p in pairs if p["failure_class"]]
    with open_page(report) as (page, errors):
        assert errors == []
        assert page.text_content("#counter") == f"Showing {len(failing)} of 16 pairs"
        assert {c["pair"] for c in visible(page)} == {p["pair_id"] for p in failing}

        for box in page.query_selector_all('input[name="cat"]'):
            if box.get_attribute("value") != "Cerebral":
                box.uncheck()
        cerebral = {p["pair_id"] for p in failing if "Cerebral" in p["categories"][0] + p["categories"][1]}
        assert {c["pair"] for c in visible(page)} == cerebral

        page.uncheck('input[name="cls"][value="confused"]')
        assert all(c["kind"] != "confused" for c in visible(page))
        assert {c["pair"] for c in visible(page)} == {
            p["pair_id"] for p in failing if p["pair_id"] in cerebral and p["failure_class"] != "confused"
        }

        for box in page.query_selector_all('input[name="cat"], input[name="cls"]'):
            box.check()
        page.check("#show-passing")
        assert len(visible(page)) == 16
        page.fill("#search", "lung fields")
        assert {c["pair"] for c in visible(page)} == {"90106"}
        page.fill("#search", "")

        page.click("article.pair:not([hidden]) img.thumb >> nth=0")
        assert page.is_visible("#lightbox")
        source = page.get_attribute("#lightbox img", "src")
        assert source.startswith("data:image/jpeg;base64,")
        page.keyboard.press("Escape")
        assert not page.is_visible("#lightbox")

        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "report-browser-test.png"), full_page=True)
    assert (ARTIFACTS / "report-browser-test.png").stat().st_size > 10_000
