"""In a real run the engine learns from pytest (or from the xdist worker's queue) which chunk comes next, and
hands its images to the model's preprocessing before the chunk in hand is done: every batch after a
process's first was prepared before the batch before it ran (plugin/upcoming.py, run/engine.py)."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pathlib import Path


def events(log: Path) -> dict[str, list[tuple[str, list[str]]]]:
    found: dict[str, list[tuple[str, list[str]]]] = defaultdict(list)
    for line in log.read_text().splitlines():
        pid, kind, *paths = line.split(" ")
        found[pid].append((kind, paths))
    return found


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["-n 0", "-n 2"])
@pytest.mark.parametrize("batch", [1, 2, 4])
def test_every_batch_after_the_first_was_prepared_before_the_one_before_it(
    scripted: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, workers: list[str], batch: int
) -> None:
    log = scripted.path / "prefetch.log"
    monkeypatch.setenv("MC_SCRIPT_PREFETCH", str(log))
    result = scripted.runpytest("--model=scripted", "--dataset=sample", "--no-store", f"--batch-size={batch}", *workers)
    assert result.ret == 0, result.stdout.str()[-2000:]
    by_process = events(log)
    assert len(by_process) == (2 if workers else 1)
    answered = 0
    for sequence in by_process.values():
        prepared: set[str] = set()
        earlier: set[str] = set()  # prepared before the previous answer
        first = True
        for kind, paths in sequence:
            if kind == "prefetch":
                prepared.update(paths)
                continue
            answered += len(paths)  # an image two pairs share is answered twice
            if not first:
                assert set(paths) <= earlier, f"batch {paths} was not prepared a batch ahead"
            first = False
            earlier = set(prepared)
    assert answered == 32
