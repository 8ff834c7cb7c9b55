"""Text from datasets and models made safe inside Markdown that GitHub renders as HTML.

summary.md becomes the CI step summary: a question, option, category, pair id or
model answer holding ``<script>``, ``<img onerror=...>`` or ``<!--`` must show
as text there, as it does in report.html, and must not break a table row.
"""

from __future__ import annotations

import html
import re

_INLINE = re.compile(r"([\\`*_\[\]|~])")
_FENCE = re.compile(r"`+")


def md(value: object, limit: int | None = None) -> str:
    """Plain text on one line: HTML characters as entities, Markdown marks backslash-escaped."""
    flat = " ".join(str("" if value is None else value).split())
    if limit is not None and len(flat) > limit:
        flat = flat[: limit - 1] + "…"
    return _INLINE.sub(r"\\\1", html.escape(flat, quote=False))


def code(value: object) -> str:
    """A code span that holds any text: a fence longer than any backtick run inside it."""
    flat = " ".join(str(value).split())
    longest = max((len(run) for run in _FENCE.findall(flat)), default=0)
    fence = "`" * (longest + 1)
    padding = " " if flat.startswith("`") or flat.endswith("`") else ""
    return f"{fence}{padding}{flat}{padding}{fence}"


_TAG = re.compile(r"<[^<>]*>")


def plain(value: object, limit: int = 200) -> str:
    """Text for a place that shows it without escaping it first (Allure's names, labels and parameters):
    markup tags removed, any other angle bracket replaced by a look-alike, one line, at most ``limit``."""
    flat = " ".join(_TAG.sub(" ", str("" if value is None else value)).split())
    flat = flat.replace("<", "‹").replace(">", "›")
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
