"""Photograph a report.html (the top of the page and the pairs) for the README.

python scripts/screenshot_report.py reports/latest/report.html docs/report-demo.png
"""

from __future__ import annotations

import sys
from pathlib import Path

from browser import open_page


def main(report: str, output: str) -> int:
    with open_page(Path(report), width=1200, height=1500) as (page, errors):
        page.screenshot(path=output, full_page=False)
        if errors:
            print("page errors:", errors, file=sys.stderr)
            return 1
    print(output)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
