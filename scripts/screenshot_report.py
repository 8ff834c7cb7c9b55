"""Photograph a report.html for the README: the top of the page, its figures, and one failing group opened.

python scripts/screenshot_report.py reports/latest/report.html docs/report-demo.png

Needs Playwright and a Chromium (see tests/browser.py, which this reuses).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from browser import open_page


def main(report: str, output: str, height: str = "2400") -> int:
    with open_page(Path(report), width=1200, height=int(height)) as (page, errors):
        confused = page.query_selector("details.group[data-class=confused] > summary")
        if confused is not None:
            confused.click()
            page.wait_for_selector("details.group[data-class=confused] article.pair")
            page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=output, full_page=False)
        if errors:
            print("page errors:", errors, file=sys.stderr)
            return 1
    print(output)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
