"""`mediconfusion compare` and `mediconfusion clean` on results files written here (no run)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pytest
from helpers import make_document, outcome

from mediconfusion_tests.cli import main
from mediconfusion_tests.reporting import leaderboard
from mediconfusion_tests.reporting.html_charts import delta_chart
from mediconfusion_tests.results.comparison import Identity, compare
from mediconfusion_tests.run.cleanup import clean_runs, run_folders

if TYPE_CHECKING:
    from pathlib import Path

    from mediconfusion_tests.results.document import ResultsDocument

CATS = [(("Cerebral",), ("Cerebral", "Vascular")), (("Cardiac",), ("Cardiac",))]

Decisions = Sequence[tuple[str | None, str | None]]


def document(decisions: Decisions, run_id: str, **config: Any) -> ResultsDocument:
    outcomes = [
        outcome(f"9{i:04d}", ("A", "B"), d, CATS[i % 2], raws=None)  # type: ignore[arg-type]
        for i, d in enumerate(decisions)
    ]
    return make_document(outcomes, run_id=run_id, model="llava", **config)


GOOD: Decisions = [("A", "B")] * 8 + [("A", "A")] * 4

WORSE: Decisions = [("A", "B")] * 4 + [("A", "A")] * 8


def test_runs_that_differ_only_in_parser_are_told_apart_without_truncation() -> None:
    paper = document(GOOD, "20261126-010000-llava-mc", answer_parser="paper")
    robust = document(GOOD, "20261126-020000-llava-mc", answer_parser="robust")
    board = leaderboard.build(leaderboard.rank([("a", paper), ("b", robust)]))
    labels = [row.label for row in board.rows]
    assert labels == ["llava · mc · answer parser paper", "llava · mc · answer parser robust"]
    assert all(any(label in line for line in leaderboard.terminal(board)) for label in labels)
    assert board.differences == ["answer parser"]


def test_the_same_settings_run_twice_are_told_apart_by_run_id() -> None:
    first = document(GOOD, "20261126-010000-llava-mc")
    second = document(WORSE, "20261126-020000-llava-mc")
    board = leaderboard.build(leaderboard.rank([("x", first), ("y", second)]))
    # Told apart by where each came from (the run folder's name, which is unique), never by cutting; in the
    # terminal beside the label, in the tables by their run id column (so the id shows once per row).
    assert [row.entry.named for row in board.rows] == ["llava · mc · x", "llava · mc · y"]
    assert [row.label for row in board.rows] == ["llava · mc", "llava · mc"]
    assert sum(line.count(" x ") for line in leaderboard.markdown(board).splitlines() if line.startswith("| 1")) == 1


def test_undefined_figures_print_as_n_a_with_spacing() -> None:
    invalid = document([(None, None)] * 4, "20261126-030000-llava-mc")
    board = leaderboard.build(leaderboard.rank([("x", document(GOOD, "r1")), ("y", invalid)]))
    line = next(line for line in leaderboard.terminal(board) if line.startswith("2 "))
    assert "  n/a  " in line
    assert "n/a1" not in line


def test_per_category_differences_carry_paired_intervals_that_hold_the_difference() -> None:
    base, new = document(GOOD, "base"), document(WORSE, "new")
    record = compare(base, new.outcomes(), Identity.of_document(new)).record(mismatch_allowed=False)
    for name, deltas in record.categories.items():
        delta = deltas["set_accuracy"]
        assert delta.ci95 is not None, name
        assert delta.difference is not None
        assert delta.ci95[0] <= delta.difference <= delta.ci95[1]
    assert record.categories["Cardiac"]["set_accuracy"].difference == pytest.approx(-1 / 3)
    chart = delta_chart(record, "new minus base <b>")
    assert chart.count("<circle") == 2 * (len(record.categories) + 1)  # set accuracy and confusion, plus All
    assert "new minus base &lt;b&gt;" in chart


def test_leaderboard_page_has_charts_and_keeps_the_table_in_a_scrolling_box() -> None:
    board = leaderboard.build(leaderboard.rank([("a", document(GOOD, "r1")), ("b", document(WORSE, "r2"))]))
    page = leaderboard.page(board)
    assert "<div class='wide'><table class='paper' id='leaderboard'>" in page
    assert page.count('class="chart delta"') == 1


def make_run(results: Path, name: str, age: int) -> Path:
    folder = results / name
    folder.mkdir(parents=True)
    (folder / "results.json").write_text("{}")
    stamp = 1_700_000_000 - age
    os.utime(folder, (stamp, stamp))
    return folder


def test_clean_keeps_the_newest_and_latest_and_touches_nothing_else(tmp_path: Path) -> None:
    results = tmp_path / "reports"
    names = [f"202611{day:02d}-120000-demo-mc" for day in range(1, 7)]
    for age, name in enumerate(reversed(names)):
        make_run(results, name, age)
    (results / "latest").symlink_to(names[0], target_is_directory=True)  # the oldest, still latest
    (results / "answers.sqlite").write_text("store")
    (results / "20261101-mine").mkdir()  # no results.json: not a run folder
    assert [p.name for p in run_folders(results)] == list(reversed(names))
    dry = clean_runs(results, keep=2, dry_run=True)
    assert len(dry.removed) == 3
    assert all(p.is_dir() for p in dry.removed)
    done = clean_runs(results, keep=2)
    assert sorted(p.name for p in done.kept) == sorted([names[0], names[4], names[5]])
    assert sorted(p.name for p in results.iterdir()) == sorted(
        ["latest", "answers.sqlite", "20261101-mine", names[0], names[4], names[5]]
    )
    with pytest.raises(ValueError, match="at least 1"):
        clean_runs(results, keep=0)


def test_clean_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results = tmp_path / "reports"
    for age in range(3):
        make_run(results, f"2026112{age}-120000-demo-mc", age)
    assert main(["clean", str(results), "--keep", "1", "--dry-run"]) == 0
    assert "would remove 2 run folder(s), kept 1" in capsys.readouterr().out
    assert main(["clean", str(results), "--keep", "1"]) == 0
    assert [p.name for p in results.iterdir()] == ["20261122-120000-demo-mc"]
    assert main(["clean", str(tmp_path / "nowhere")]) == 2
    with pytest.raises(SystemExit):
        main(["clean", str(results), "--keep", "0"])
