"""What a person sees in the terminal: --limit marked as a subset, a live progress line on a TTY, a hub that
cannot be reached named at once with the command that fetches the data."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest
from helpers import read_results

if TYPE_CHECKING:
    from pathlib import Path

SAMPLE = ("--dataset=sample", "-p", "no:cacheprovider")


def test_limit_scores_the_first_pairs_and_says_it_is_a_subset_everywhere(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--model=random", "--limit=5", *SAMPLE)
    result.stdout.fnmatch_lines(["collected 5 items", "subset: --limit 5: the first 5 of the dataset's 16 pairs"])
    results = read_results(pytester.path)
    assert [p["pair_id"] for p in results["pairs"] if p["status"] != "not run"] == [
        "90101",
        "90102",
        "90103",
        "90104",
        "90105",
    ]
    assert results["run"]["subset"] == "--limit 5: the first 5 of the dataset's 16 pairs"
    # A subset is written in its own run folder and never becomes latest.
    result.stdout.fnmatch_lines(["latest: unchanged (a subset of the benchmark never becomes latest)"])
    assert not (pytester.path / "reports" / "latest").exists()
    (folder,) = (pytester.path / "reports").glob("*-random-mc")
    assert "subset: --limit 5" in (folder / "summary.md").read_text()
    assert "subset: --limit 5" in (folder / "report.html").read_text()
    # A gate set in pyproject.toml is the team's release gate: a subset never passes it.
    pytester.makepyprojecttoml('[tool.mediconfusion]\ngate = ["set_accuracy>=0"]\n')
    gated = pytester.runpytest("--model=random", "--limit=5", *SAMPLE)
    assert gated.ret == 1
    gated.stdout.fnmatch_lines(["PROBLEM: the gate needs 16 scored pair(s)*but this run scored 5 of the dataset's 16"])


def test_limit_rejects_nonsense(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--model=random", "--limit=0", *SAMPLE)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--limit: expected a positive integer, got '0'*"])


def tty_run(folder: Path, *args: str, columns: int = 120) -> str:
    """pytest under `script`, so its output is a terminal as a person at a shell has it."""
    if shutil.which("script") is None:
        pytest.skip("no `script` command (util-linux) to give pytest a terminal")
    command = shlex.join([sys.executable, "-m", "pytest", *args])
    done = subprocess.run(
        ["script", "-qec", command, "/dev/null"],
        cwd=folder,
        capture_output=True,
        env={**os.environ, "COLUMNS": str(columns)},
        timeout=300,
        check=False,
    )
    # Bytes, not text: text mode would turn the bare \r of a redrawn line into \n. A terminal also ends
    # lines with \r\n and colours them.
    out = done.stdout.decode("utf-8", "replace").replace("\r\n", "\n")
    return re.sub(r"\x1b\[[0-9;]*m", "", out)


@pytest.mark.parametrize("workers", [None, "2"])
def test_a_live_progress_line_on_a_terminal(pytester: pytest.Pytester, workers: str | None) -> None:
    pytester.makeconftest("")
    extra = () if workers is None else ("-n", workers)
    out = tty_run(pytester.path, "--model=random", *SAMPLE, *extra)
    progress = [part.splitlines()[0] for part in out.split("\r") if part.startswith("MediConfusion ")]
    assert progress, out[-2000:]
    last = progress[-1].strip()
    assert last.startswith("MediConfusion 16/16 pairs · ")
    assert "pairs/s · done in " in last
    assert last.endswith("7 confused, 6 wrong, 3 passed")
    assert out.rstrip().splitlines()[-1].startswith("exit 1: ")


def test_no_progress_line_when_not_a_terminal(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--model=random", *SAMPLE)
    assert "\r" not in result.stdout.str()
    result.stdout.fnmatch_lines(["test_pairs.py CWCC.W.WCCCWWWC.*"])


def test_unreachable_hub_is_named_at_once_with_the_download_command(pytester: pytest.Pytester, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "0",
        "HF_ENDPOINT": "http://127.0.0.1:9",  # the discard port: nothing listens
        "HF_HUB_CACHE": str(tmp_path / "empty-cache"),
    }
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--model=random", "-p", "no:cacheprovider"],
        cwd=pytester.path,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    text = done.stdout + done.stderr
    assert done.returncode == pytest.ExitCode.USAGE_ERROR, text
    assert "127.0.0.1:9 cannot be reached" in text
    assert (
        "hf download shahab7899/MediConfusion dataset.json --repo-type dataset --local-dir data/MediConfusion" in text
    )
    assert "huggingface-cli" not in text


@pytest.mark.parametrize("workers", [None, "2"])
def test_probes_count_in_the_live_line(pytester: pytest.Pytester, workers: str | None) -> None:
    pytester.makeconftest("")
    extra = () if workers is None else ("-n", workers)
    out = tty_run(pytester.path, "--model=random", "--probes=order,paraphrase", *SAMPLE, *extra, columns=160)
    progress = [part.splitlines()[0] for part in out.split("\r") if part.startswith("MediConfusion ")]
    assert progress, out[-2000:]
    last = progress[-1].strip()
    assert last.startswith("MediConfusion 16/16 pairs · ")
    assert last.endswith(" · probes 32/32: 23 inconsistent, 9 consistent")


def test_probe_failures_are_one_line_each_and_counted_in_the_exit_line(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--model=random", "--probes=order,paraphrase", *SAMPLE)
    text = result.stdout.str()
    assert "FAILURES" not in text
    assert "FAILED test_pairs.py::test_probe" not in text
    result.stdout.fnmatch_lines(
        [
            "*12 passed*, 7 confused, 6 wrong, 23 inconsistent probe in *",
            "INCONSISTENT order      90101: answered B/B on the benchmark, A/B with the options swapped*",
            "INCONSISTENT paraphrase 90101: answered B/B on the benchmark, A/B on the paraphrase",
            "exit 1: 13 pair case(s) and 23 probe case(s) failed and no --gate was given*",
        ]
    )
    assert len([line for line in text.splitlines() if line.startswith("INCONSISTENT ")]) == 23
