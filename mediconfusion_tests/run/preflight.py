"""Every problem that stops a run, found on the controller and told at once.

A run's checks are independent of each other where they can be: the model's files, its options, the
output folders, the dataset and then its images. Each failing check adds its message; the run stops with
all of them in one error, so a user fixes everything in one round instead of learning one problem per
attempt. One problem is raised as it was (its own class and words); several become one numbered message.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING

from mediconfusion_tests.errors import DataError, MediConfusionError

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator


class PreflightError(DataError):
    """Several problems, each checked before any model or worker starts."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(preflight_message(problems))


def preflight_message(problems: list[str]) -> str:
    head = f"{len(problems)} problems stop this run; each was checked before any model or worker started:"
    items = []
    for number, problem in enumerate(problems, 1):
        first, *rest = problem.splitlines()
        items.append("\n".join([f"{number}. {first}", *(f"   {line}" for line in rest)]))
    return "\n".join([head, *items])


class Checks:
    """Collects the problems of independent checks: ``with checks.check(): ...`` per check."""

    def __init__(self) -> None:
        self.errors: list[MediConfusionError] = []

    @contextmanager
    def check(self) -> Iterator[None]:
        try:
            yield
        except MediConfusionError as exc:
            self.errors.append(exc)

    def add(self, problems: Iterable[str]) -> None:
        self.errors.extend(DataError(problem) for problem in problems)

    @property
    def failed(self) -> bool:
        return bool(self.errors)

    def raise_any(self) -> None:
        if len(self.errors) == 1:
            raise self.errors[0]
        if self.errors:
            raise PreflightError([str(error) for error in self.errors])
