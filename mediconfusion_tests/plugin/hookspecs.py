"""Hooks other plugins and conftest.py files may implement."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from mediconfusion_tests.models.registry import ModelEntry


@pytest.hookspec
def pytest_mediconfusion_models() -> list[ModelEntry]:  # type: ignore[empty-body]
    """Return ModelEntry objects to add to the model registry (from a rootdir conftest.py or plugin)."""
