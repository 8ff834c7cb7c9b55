"""The gate says PASSED only for a run that scored what it claims: store keys, outputs, subsets."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import pytest
from helpers import read_results

from mediconfusion_tests.models.base import Query
from mediconfusion_tests.run.run_folder import create_run_folder
from mediconfusion_tests.run.store import answer_key

if TYPE_CHECKING:
    from pathlib import Path

SAMPLE = ("--dataset=sample", "-p", "no:cacheprovider")
USAGE = pytest.ExitCode.USAGE_ERROR
#: A deterministic model that never reads pixels: A for every image 1, B for every image 2.
BY_INDEX_CONFTEST = """
from mediconfusion_tests.models.base import Model
from mediconfusion_tests.models.baselines import answer_in_mode
from mediconfusion_tests.models.registry import ModelEntry

class ByIndex(Model):
    name = "by-index"

    def answer(self, queries):
        return [answer_in_mode(q.mode, "A" if q.image_index == 1 else "B") for q in queries]

def pytest_mediconfusion_models():
    return [ModelEntry("by-index", "A then B", lambda spec, config: ByIndex(), needs_images=False)]
"""


@pytest.fixture
def by_index(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(BY_INDEX_CONFTEST)
    return pytester


def query(image_index: int, image_id: str, sha: str = "") -> Query:
    return Query("p1", image_index, "", sha, "q?", ("x", "y"), "mc", "prompt", image_id=image_id)


def test_store_keys_tell_the_two_images_of_a_pair_apart_without_pixels() -> None:
    first, second = query(1, "7:a.jpg"), query(2, "8:b.jpg")
    assert answer_key("m", first, {}) != answer_key("m", second, {})
    assert answer_key("m", first, {}) == answer_key("m", query(1, "7:a.jpg"), {})
    assert answer_key("m", first, {}) != answer_key("m", query(1, "7:a.jpg", sha="beef"), {})


@pytest.mark.parametrize("workers", [None, "2"])
def test_a_rerun_from_the_store_reproduces_the_metrics_exactly(by_index: pytest.Pytester, workers: str | None) -> None:
    extra = () if workers is None else ("-n", workers)
    by_index.runpytest_subprocess("--model=by-index", *SAMPLE, *extra)
    first = read_results(by_index.path)
    by_index.runpytest_subprocess("--model=by-index", *SAMPLE, *extra)
    second = read_results(by_index.path)
    assert all(a["cached"] for p in second["pairs"] for a in p["answers"])
    assert second["metrics"] == first["metrics"]
    assert first["metrics"]["overall"]["set_accuracy"]["value"] > 0


def test_results_dir_that_is_a_file_is_refused_before_the_model_loads(pytester: pytest.Pytester) -> None:
    (pytester.path / "out").write_text("not a folder")
    result = pytester.runpytest("--model=random", "--results-dir=out", *SAMPLE)
    assert result.ret == USAGE
    result.stderr.fnmatch_lines(["ERROR: mediconfusion: --results-dir */out is a file, not a folder"])
    result = pytester.runpytest("--model=random", "--results-dir=out/sub", *SAMPLE)
    assert result.ret == USAGE
    result.stderr.fnmatch_lines(["ERROR: mediconfusion: --results-dir */out/sub cannot be created: */out is a file"])


def test_answer_store_that_is_a_folder_is_refused(pytester: pytest.Pytester) -> None:
    (pytester.path / "store").mkdir()
    result = pytester.runpytest("--model=random", "--answer-store=store", *SAMPLE)
    assert result.ret == USAGE
    result.stderr.fnmatch_lines(["ERROR: mediconfusion: --answer-store */store is a folder; give a file path*"])
    assert not (pytester.path / "reports").exists()


def test_a_damaged_answer_store_is_refused_with_the_fix(pytester: pytest.Pytester) -> None:
    (pytester.path / "answers.sqlite").write_bytes(b"this is not sqlite" * 100)
    result = pytester.runpytest("--model=random", "--answer-store=answers.sqlite", *SAMPLE)
    assert result.ret == USAGE
    result.stderr.fnmatch_lines(
        ["ERROR: mediconfusion: answer store */answers.sqlite cannot be read (*): delete it (rm *) or run with --no-*"]
    )


def test_unreadable_rows_are_answered_again_not_failed(scripted: pytest.Pytester) -> None:
    import sqlite3

    scripted.runpytest("--model=scripted", *SAMPLE)
    store = sqlite3.connect(scripted.path / "reports" / "answers.sqlite")
    store.execute("UPDATE answers SET answer = 'not json' WHERE pair_id IN ('90101', '90102')")
    store.execute("UPDATE answers SET answer = '{\"text\": 5}' WHERE pair_id = '90103'")
    store.commit()
    store.close()
    result = scripted.runpytest("--model=scripted", "--gate", "set_accuracy>=1", *SAMPLE)
    assert result.ret == 0
    results = read_results(scripted.path)
    assert results["counts"]["pairs_scored"] == 16
    fresh = {p["pair_id"] for p in results["pairs"] if not any(a["cached"] for a in p["answers"])}
    assert fresh == {"90101", "90102", "90103"}
    assert any("6 stored answer(s) could not be read" in w for w in results["warnings"])


def test_two_runs_in_the_same_second_get_their_own_folders(tmp_path: Path) -> None:
    made: list[Path] = []
    lock = threading.Lock()

    def make() -> None:
        folder = create_run_folder(tmp_path, "20260101-000000-m-mc")
        with lock:
            made.append(folder)

    threads = [threading.Thread(target=make) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(made)) == 16


def test_collect_only_writes_no_run_folder(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--model=random", "--collect-only", "-q", *SAMPLE)
    assert result.ret == 0
    assert not (pytester.path / "reports").exists()


def test_latest_moves_only_for_a_complete_run(pytester: pytest.Pytester) -> None:
    pytester.runpytest("--model=random", *SAMPLE)
    complete = (pytester.path / "reports" / "latest").resolve()
    stopped = pytester.runpytest("--model=random", "-x", *SAMPLE)
    assert stopped.ret == 1
    runs = [p for p in (pytester.path / "reports").iterdir() if p.is_dir() and not p.is_symlink()]
    assert len(runs) == 2
    assert (pytester.path / "reports" / "latest").resolve() == complete


def test_a_gate_on_a_subset_warns_with_the_count(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--model=always-a", "-k", "90101 or 90102", "--gate", "set_accuracy>=0", *SAMPLE)
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        [
            "GATE PASSED",
            "WARNING: the gate was judged on a subset: 2 of 16 pairs scored (*); --gate-min-pairs=16 makes that*",
        ]
    )


def test_gate_min_pairs_turns_a_subset_into_a_failure(pytester: pytest.Pytester) -> None:
    args = ("--model=always-a", "-k", "90101 or 90102", "--gate", "set_accuracy>=0", *SAMPLE)
    result = pytester.runpytest(*args, "--gate-min-pairs=all")
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        ["PROBLEM: the gate needs 16 scored pair(s) (--gate-min-pairs=all) but this run scored 2 of the dataset's 16"]
    )
    assert pytester.runpytest(*args, "--gate-min-pairs=2").ret == 0


def test_gates_from_pyproject_hold_for_every_pair_by_default(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml('[tool.mediconfusion]\ngate = "set_accuracy>=0"\ndataset = "sample"\n')
    assert pytester.runpytest("--model=always-a", "-p", "no:cacheprovider").ret == 0
    subset = pytester.runpytest("--model=always-a", "-k", "90101", "-p", "no:cacheprovider")
    assert subset.ret == 1
    subset.stdout.fnmatch_lines(["PROBLEM: the gate needs 16 scored pair(s) (--gate-min-pairs=all; *) but *1 of*"])
    one = pytester.runpytest("--model=always-a", "-k", "90101", "--gate-min-pairs=1", "-p", "no:cacheprovider")
    assert one.ret == 0


def test_a_category_gate_without_scored_pairs_states_its_own_threshold(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--model=always-a", "-m", "cerebral", "--gate", "Cardiac.confusion<=0.5", *SAMPLE)
    assert result.ret == 1
    result.stdout.fnmatch_lines(["  FAIL Cardiac.confusion is undefined (no pairs to measure it on); needs <= 0.5"])
