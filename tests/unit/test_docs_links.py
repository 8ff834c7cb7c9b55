"""The README stays short and its links hold: every relative link in README.md and docs/ names a file that
exists and, with #anchor, a heading in it; no page tells a user to install the package from PyPI, where it
is not published."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def anchors(page: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces as hyphens (code blocks skipped)."""
    found, fence = set(), False
    for line in page.read_text().splitlines():
        if line.startswith("```"):
            fence = not fence
        elif not fence and line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            found.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return found


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_relative_links_resolve(page: Path) -> None:
    broken = []
    for target in LINK.findall(page.read_text()):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        path, _, anchor = target.partition("#")
        destination = (page.parent / path).resolve() if path else page
        if not destination.exists():
            broken.append(f"{target}: no such file")
        elif anchor and destination.suffix == ".md" and anchor not in anchors(destination):
            broken.append(f"{target}: no such heading")
    assert not broken, broken


def test_readme_is_short_and_links_every_docs_page() -> None:
    text = (REPO / "README.md").read_text()
    assert len(text.splitlines()) < 160
    for page in ("running", "data", "mining", "models", "served-models", "fidelity", "probes", "gate", "reports"):
        assert f"(docs/{page}.md)" in text


def test_no_page_installs_the_package_from_pypi() -> None:
    files = [*PAGES, *sorted((REPO / "examples").glob("*.yml"))]
    command = re.compile(r"pip install [^`\n]*mediconfusion-tests[^`\n]*")
    offenders = [
        f"{f.name}: {m.group(0)}" for f in files for m in command.finditer(f.read_text()) if " @ " not in m.group(0)
    ]
    assert not offenders, offenders
