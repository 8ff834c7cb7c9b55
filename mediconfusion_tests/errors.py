"""Errors a user can act on. Their messages are complete sentences shown as they are."""

from __future__ import annotations


class MediConfusionError(Exception):
    """Base class: bad input or environment, reported without a traceback."""


class ConfigError(MediConfusionError):
    """An option, gate expression or config-file value is malformed."""


class DataError(MediConfusionError):
    """The dataset, its images or a replayed answers file cannot be used."""


class ModelSpecError(MediConfusionError):
    """The --model value names no known model or asks for an unsupported mode."""


class ModelError(MediConfusionError):
    """A model failed while loading or answering."""


class ModelOutOfMemory(ModelError):
    """A batch did not fit in accelerator memory; the engine retries with a smaller one."""
