"""Named extension points: metrics, answer parsers, probes and report writers.

Each kind is a ``Registry``: the suite registers its own entries in it the same way a
third party does, by calling ``register`` (from a conftest.py, a plugin, or any module
imported before the run), or through a package entry point in the kind's group, e.g.::

    [project.entry-points."mediconfusion_tests.metrics"]
    macro_accuracy = "my_package.metrics:MACRO_ACCURACY"

Entry points are read the first time a registry is asked. Adding one is a one-file change.
"""

from __future__ import annotations

import re
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Generic, TypeVar

from mediconfusion_tests.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

T = TypeVar("T")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


class Registry(Generic[T]):
    """Extensions of one kind by name, in registration order (the suite's own first)."""

    def __init__(self, kind: str, check: Callable[[object], T]) -> None:
        self.kind = kind
        self.group = f"mediconfusion_tests.{kind}"
        self._check = check
        self._items: dict[str, T] = {}
        self._loaded = False

    def register(self, name: str, item: object, *, replace: bool = False) -> T:
        """Add ``item`` under ``name``; a name already taken is refused unless ``replace`` (or the same item)."""
        if not _NAME.match(name):
            raise ConfigError(f"{self.kind}: {name!r} is not a usable name (letters, digits, _ and -)")
        checked = self._check(item)
        if name in self._items and self._items[name] is not checked and not replace:
            raise ConfigError(f"{self.kind}: {name!r} is already registered (pass replace=True to override it)")
        self._items[name] = checked
        return checked

    def _load_entry_points(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        for point in entry_points(group=self.group):
            try:
                item = point.load()
            except Exception as exc:  # a broken third-party package must say which one
                raise ConfigError(f"entry point {point.name!r} in {self.group} cannot be loaded: {exc}") from exc
            if point.name not in self._items or self._items[point.name] is not item:
                self.register(point.name, item)

    def names(self) -> tuple[str, ...]:
        self._load_entry_points()
        return tuple(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self.names()

    def __getitem__(self, name: str) -> T:
        if name not in self.names():
            raise KeyError(name)
        return self._items[name]

    def get(self, name: str) -> T | None:
        return self[name] if name in self.names() else None

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def items(self) -> list[tuple[str, T]]:
        return [(name, self._items[name]) for name in self.names()]

    def unregister(self, name: str) -> None:
        """Remove an entry (tests that register their own use it to clean up)."""
        self._items.pop(name, None)
