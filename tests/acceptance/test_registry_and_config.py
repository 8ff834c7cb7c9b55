"""xdist workers set their torch thread count to their share of the cores."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pytest


def test_xdist_workers_set_their_thread_count(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    from mediconfusion_tests.plugin.gpus import THREAD_VARIABLES, threads_for_worker, usable_cores

    for name in THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    # xdist does not relay a worker's output: each worker writes what it saw to a file.
    pytester.makepyfile(
        test_threads="""
        import os
        from pathlib import Path

        def test_threads_a():
            Path(os.environ["PYTEST_XDIST_WORKER"] + ".txt").write_text(os.environ.get("OMP_NUM_THREADS", "unset"))

        def test_threads_b():
            Path(os.environ["PYTEST_XDIST_WORKER"] + ".txt").write_text(os.environ.get("OMP_NUM_THREADS", "unset"))
        """
    )
    args = ("--model=random", "--dataset=sample", "-n", "2", "test_threads.py")
    pytester.runpytest_subprocess(*args)
    seen = {p.read_text() for p in pytester.path.glob("gw*.txt")}
    assert seen == {str(threads_for_worker(2, usable_cores(), None))}
    for file in pytester.path.glob("gw*.txt"):
        file.unlink()
    pytester.runpytest_subprocess(*args, "--threads-per-worker=3")
    assert {p.read_text() for p in pytester.path.glob("gw*.txt")} == {"3"}
