"""Hooks other plugins and conftest.py files may implement."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from mediconfusion_tests.models.registry import ModelEntry
    from mediconfusion_tests.run.writer import Writer


@pytest.hookspec
def pytest_mediconfusion_models() -> list[ModelEntry]:  # type: ignore[empty-body]
    """Return ModelEntry objects to add to the model registry (from a rootdir conftest.py or plugin)."""


@pytest.hookspec
def pytest_mediconfusion_writers() -> dict[str, Writer]:  # type: ignore[empty-body]
    """Return {name: writer} to add to the report writers (run/writer.py WRITERS): each is called as
    ``writer(document, run_folder)`` after results.json is written and returns {what: path} it wrote.
    Metrics, answer parsers and probes are registered in their registries directly (see extensions.py)."""
