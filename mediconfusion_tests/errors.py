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


class RunStopped(MediConfusionError):
    """The run must stop cleanly (a request or cost budget is spent); what was answered is kept."""


class PartialAnswers(ModelError):
    """Some queries of a batch were answered, others failed: each pair gets what it got.

    ``answers[i]`` is the answer to query i or None; ``errors[i]`` says why it has none.
    """

    def __init__(self, answers: list[object], errors: list[BaseException | None]) -> None:
        failed = [e for e in errors if e is not None]
        super().__init__(f"{len(failed)} of {len(errors)} queries failed; first: {failed[0] if failed else ''}")
        self.answers = answers
        self.errors = errors
