"""The answer store: a run killed with SIGKILL resumes without recomputing stored answers."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

import pytest
from helpers import read_results

if TYPE_CHECKING:
    from pathlib import Path

SAMPLE = ("--dataset=sample", "-p", "no:cacheprovider")


def logged(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def stored_pairs(folder: Path) -> list[str]:
    rows = sqlite3.connect(folder / "reports" / "answers.sqlite").execute("SELECT DISTINCT pair_id FROM answers")
    return sorted(r[0] for r in rows)


@pytest.mark.parametrize(("batch", "kept"), [("2", 5), ("8", 4)])
def test_sigkill_loses_at_most_the_batch_in_flight(
    scripted: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, batch: str, kept: int
) -> None:
    """Batch 2 is one pair per batch: only the 6th pair is lost. Batch 8 holds pairs 5-8: those are lost."""
    log = scripted.path / "calls.log"
    monkeypatch.setenv("MC_SCRIPT_LOG", str(log))
    monkeypatch.setenv("MC_SCRIPT_KILL_AT", "6")
    killed = scripted.runpytest_subprocess("--model=scripted", f"--batch-size={batch}", *SAMPLE)
    assert killed.ret == -9  # SIGKILL while asking about the batch holding the 6th pair
    done = logged(log)
    assert len(done) == kept  # the whole batches answered before it
    assert stored_pairs(scripted.path) == sorted(done)

    monkeypatch.delenv("MC_SCRIPT_KILL_AT")
    resumed = scripted.runpytest_subprocess(
        "--model=scripted", f"--batch-size={batch}", "--gate", "set_accuracy>=1", *SAMPLE
    )
    assert resumed.ret == 0
    asked_again = logged(log)[len(done) :]
    assert len(asked_again) == 16 - len(done)
    assert not set(asked_again) & set(done)
    pairs = read_results(scripted.path)["pairs"]
    assert sum(a["cached"] for p in pairs for a in p["answers"]) == 2 * len(done)


def test_no_cache_recomputes_everything(scripted: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    log = scripted.path / "calls.log"
    monkeypatch.setenv("MC_SCRIPT_LOG", str(log))
    scripted.runpytest("--model=scripted", *SAMPLE)
    scripted.runpytest("--model=scripted", *SAMPLE)
    assert len(logged(log)) == 16
    scripted.runpytest("--model=scripted", "--no-cache", *SAMPLE)
    assert len(logged(log)) == 32


def test_workers_share_one_store(scripted: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    log = scripted.path / "calls.log"
    monkeypatch.setenv("MC_SCRIPT_LOG", str(log))
    scripted.runpytest_subprocess("--model=scripted", "-n", "2", *SAMPLE)
    assert sorted(logged(log)) == sorted(set(logged(log)))  # no pair answered by both workers
    scripted.runpytest_subprocess("--model=scripted", "-n", "2", "--mode=greedy", *SAMPLE)
    scripted.runpytest("--model=scripted", *SAMPLE)
    assert len(logged(log)) == 32  # the third run found all mc answers the two workers stored
