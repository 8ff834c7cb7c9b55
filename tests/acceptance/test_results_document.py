"""results.json schema v2: published, validated on read, v1 still read and replayed, round trips exact."""

from __future__ import annotations

import json
import shutil

import pytest
from helpers import REPO, read_results, results_validator

from mediconfusion_tests.results.document import read_document

V1 = REPO / "tests" / "data" / "results-v1.json"

SAMPLE = ("--dataset=sample", "-p", "no:cacheprovider")


@pytest.mark.parametrize("workers", [None, "2"])
def test_a_real_run_validates_against_the_published_schema(pytester: pytest.Pytester, workers: str | None) -> None:
    extra = () if workers is None else ("-n", workers)
    pytester.runpytest_subprocess("--model=random", "--gate", "set_accuracy>=0", *SAMPLE, *extra)
    data = read_results(pytester.path)
    results_validator().validate(data)
    assert data["schema_version"] == 2
    assert data["prompts"]["used"] == "builtin-v1"
    timing = data["timing"]
    assert timing["wall_s"] > 0
    workers_seen = {"main"} if workers is None else {"gw0", "gw1"}
    assert set(timing["workers"]) == workers_seen
    assert sum(w["pairs"] for w in timing["workers"].values()) == 16
    assert all(w["model_load_s"] is not None for w in timing["workers"].values())


def test_a_v1_file_is_read_and_replays_to_its_own_metrics(pytester: pytest.Pytester) -> None:
    document = read_document(V1)
    assert document.config.use_store is True  # v1's use_cache, renamed
    assert document.run.complete is None
    assert document.timing is None
    shutil.copy(V1, pytester.path / "v1.json")
    result = pytester.runpytest("--model=replay:v1.json", *SAMPLE)
    assert result.ret == 1
    replayed = read_results(pytester.path)
    assert replayed["metrics"] == json.loads(V1.read_text())["metrics"]
    assert replayed["prompts"]["used"] == "replayed: from the file"
    recorded = {p["pair_id"]: p["prompts"] for p in json.loads(V1.read_text())["pairs"]}
    assert all(p["prompts"] == recorded[p["pair_id"]] for p in replayed["pairs"])


def test_a_harness_replay_records_that_its_prompts_are_unknown_and_mismatches_as_warnings(
    pytester: pytest.Pytester,
) -> None:
    answer = {"full_answer": "A", "A": 1, "B": 0}
    wrong_table = {"set_score": {"total": 1}}  # a pair answered A/A cannot be set-correct: a mismatch
    entries = {"90101": {"answer": {"im1": answer, "im2": answer}, "score": wrong_table}}
    (pytester.path / "h.json").write_text(json.dumps(entries))
    pytester.runpytest("--model=replay:h.json", "--allow-missing-answers", *SAMPLE)
    data = read_results(pytester.path)
    assert data["prompts"]["used"] == "replayed: prompts unknown (original harness file)"
    assert data["pairs"][0]["prompts"] == ["", ""]
    assert any("1 replayed pair(s) differ from the scores the original harness recorded" in w for w in data["warnings"])
