"""Markdown output escapes markup and table breaks."""

from __future__ import annotations

from mediconfusion_tests.reporting.markdown_text import code, md


def test_markdown_text_escapes_markup_and_table_breaks() -> None:
    assert md("<b>x</b> | *y*") == "&lt;b&gt;x&lt;/b&gt; \\| \\*y\\*"
    assert md("a\nb") == "a b"
    assert code("a`b") == "``a`b``"
