"""Quoting a value someone else sent (a dataset field, a server's reply) in a message: short, always."""

from __future__ import annotations


def shown(value: object, limit: int = 80) -> str:
    """The value's repr, cut short (a field or a reply may hold megabytes)."""
    try:
        text = repr(value)
    except ValueError:  # an integer too long for Python to print
        return f"<an {type(value).__name__} too long to show>"
    return text if len(text) <= limit else text[:limit] + "..."
