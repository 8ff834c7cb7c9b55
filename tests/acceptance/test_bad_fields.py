"""Malformed fields end in one clear error (exit 4) naming file, pair and field: never exit 3, never a traceback."""

from __future__ import annotations

import json
import math
import shutil
from typing import TYPE_CHECKING, Any

import pytest
from helpers import read_results
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

if TYPE_CHECKING:
    from pathlib import Path

USAGE = pytest.ExitCode.USAGE_ERROR
QUIET = ("-p", "no:cacheprovider")
FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)


@pytest.fixture
def dataset(pytester: pytest.Pytester, sample_dir: Path) -> Path:
    folder = pytester.path / "bench"
    shutil.copytree(sample_dir, folder)
    return folder


def records(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "dataset.json").read_text())


def write(folder: Path, data: object) -> None:
    (folder / "dataset.json").write_text(json.dumps(data))


def usage(result: pytest.RunResult, *patterns: str) -> None:
    assert result.ret == USAGE, result.stdout.str() + result.stderr.str()
    assert "Traceback" not in result.stderr.str() + result.stdout.str()
    result.stderr.fnmatch_lines(list(patterns))


# -- dataset records --------------------------------------------------------------------------------------------
def test_a_local_id_that_looks_like_a_digit_but_is_not(pytester: pytest.Pytester, dataset: Path) -> None:
    data = records(dataset)
    data["90102"]["im_1_local"] = "²"
    write(dataset, data)
    usage(
        pytester.runpytest("--model=random", f"--dataset={dataset}", *QUIET),
        "*- pair 90102: field 'im_1_local' must be a non-negative integer image id, got '²'",
    )


def test_a_category_that_cannot_be_a_marker(pytester: pytest.Pytester, dataset: Path) -> None:
    data = records(dataset)
    data["90103"]["category_2"] = ["!!!"]
    write(dataset, data)
    usage(
        pytester.runpytest("--model=random", f"--dataset={dataset}", *QUIET),
        "*- pair 90103: field 'category_2': category '!!!' has no letter or digit to make a marker name from",
    )


def test_a_csv_that_is_not_utf8(pytester: pytest.Pytester, tmp_path: Path) -> None:
    path = pytester.path / "dataset.csv"
    path.write_bytes("id,question\n1,caf\xe9?\n".encode("latin-1"))
    usage(
        pytester.runpytest("--model=random", f"--dataset={path}", *QUIET),
        "*dataset.csv: line 2: not UTF-8 text (byte b'\\xe9'); save the file as UTF-8",
    )


def test_json_nested_too_deep(pytester: pytest.Pytester) -> None:
    path = pytester.path / "dataset.json"
    path.write_text('{"1": ' + "[" * 100_000 + "]" * 100_000 + "}")
    usage(pytester.runpytest("--model=random", f"--dataset={path}", *QUIET), "*nested too deeply*")


def test_categories_that_differ_in_case_or_spaces_are_one(pytester: pytest.Pytester, dataset: Path) -> None:
    data = records(dataset)
    cardiac = [pid for pid, r in data.items() if "Cardiac" in r["category_1"]]
    data[cardiac[0]]["category_1"] = ["cardiac "]
    write(dataset, data)
    result = pytester.runpytest("--model=random", f"--dataset={dataset}", "--gate", "set_accuracy>=0", *QUIET)
    assert result.ret == 0
    results = read_results(pytester.path)
    assert "cardiac" not in results["metrics"]["categories"]
    assert "Cardiac" in results["metrics"]["categories"]
    assert any("categories 'cardiac', 'Cardiac' are read as one, 'Cardiac'" in w for w in results["warnings"])


@pytest.mark.parametrize("workers", [None, "2"])
def test_non_ascii_pair_ids_are_matched(pytester: pytest.Pytester, dataset: Path, workers: str | None) -> None:
    renamed = {f"é{pid}[x]": record for pid, record in records(dataset).items()}
    write(dataset, renamed)
    extra = () if workers is None else ("-n", workers)
    args = ("--model=random", f"--dataset={dataset}", "--gate", "set_accuracy>=0")
    result = pytester.runpytest_subprocess(*args, *extra)
    assert result.ret == 0, result.stdout.str()
    results = read_results(pytester.path)
    assert results["counts"]["pairs_scored"] == 16
    assert not results["problems"]
    assert {p["pair_id"] for p in results["pairs"]} == set(renamed)


# -- replay files ---------------------------------------------------------------------------------------------
def ours(pytester: pytest.Pytester) -> Path:
    pytester.runpytest("--model=always-a", "--dataset=sample", *QUIET)
    return pytester.path / "reports" / "latest" / "results.json"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("raw", 5, "*pairs[[]1[]] (pair 90102): 'raw' must be a string or null, got int 5"),
        ("scores", "abc", "*pairs[[]1[]] (pair 90102): 'scores' must be an object of numbers, got str 'abc'"),
        (
            "scores",
            {"A": "high"},
            "*pairs[[]1[]] (pair 90102): Answer.scores must map names to numbers, got 'A': 'high'",
        ),
    ],
)
def test_replayed_fields_are_type_checked(pytester: pytest.Pytester, field: str, value: object, message: str) -> None:
    path = ours(pytester)
    data = json.loads(path.read_text())
    data["pairs"][1]["answers"][0][field] = value
    (pytester.path / "bad.json").write_text(json.dumps(data))
    usage(pytester.runpytest("--model=replay:bad.json", "--dataset=sample", *QUIET), message)


def test_nan_scores_are_refused(pytester: pytest.Pytester) -> None:
    entry = {"answer": {"im1": {"full_answer": "A", "A": float("nan"), "B": 1}, "im2": {"full_answer": "B"}}}
    (pytester.path / "h.json").write_text(json.dumps({"90101": entry}))
    usage(
        pytester.runpytest("--model=replay:h.json", "--dataset=sample", *QUIET),
        "*h.json: pair 90101: im1: Answer.scores[[]'A'[]] is nan; scores must be finite numbers",
    )


def test_a_plugin_model_answer_of_the_wrong_type_is_a_model_error_on_that_pair(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
from mediconfusion_tests.models.base import Answer, Model
from mediconfusion_tests.models.registry import ModelEntry

class Sloppy(Model):
    name = "sloppy"
    cacheable = False

    def answer(self, queries):
        return [Answer(5) if q.pair_id == "90103" else Answer("A") for q in queries]

def pytest_mediconfusion_models():
    return [ModelEntry("sloppy", "wrong types", lambda spec, config: Sloppy(), needs_images=False)]
"""
    )
    result = pytester.runpytest("--model=sloppy", "--dataset=sample", *QUIET)
    assert result.ret == 1
    results = read_results(pytester.path)
    errored = [p for p in results["pairs"] if p["status"] == "error"]
    assert [p["pair_id"] for p in errored] == ["90103"]
    assert errored[0]["error"] == "AnswerTypeError: Answer.text must be a string or None, got int"
    assert results["counts"]["pairs_scored"] == 15


# -- pyproject and options ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('allow_missing_images = "false"', "*allow_missing_images must be true or false, got str 'false'"),
        ("results_dir = 5", "*results_dir must be a string, got int 5"),
        ('max_regressed_pairs = "3"', "*max_regressed_pairs must be an integer, got str '3'"),
        ("judge_threshold = nan", "*judge_threshold must be a finite number, got float nan"),
        ('batch_size = "big"', "*batch size must be a positive integer or 'auto', got 'big'"),
    ],
)
def test_pyproject_values_are_type_checked(pytester: pytest.Pytester, line: str, message: str) -> None:
    pytester.makepyprojecttoml(f"[tool.mediconfusion]\n{line}\n")
    usage(pytester.runpytest("--model=random", "--dataset=sample", *QUIET), message)


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("--judge-threshold=nan", "*--judge-threshold: expected a finite non-negative number, got 'nan'"),
        ("--temperature=inf", "*--temperature: expected a finite non-negative number, got 'inf'"),
        ("--top-p=nan", "*--top-p: expected a finite non-negative number, got 'nan'"),
    ],
)
def test_nan_and_infinity_options_are_refused(pytester: pytest.Pytester, option: str, message: str) -> None:
    result = pytester.runpytest("--model=random", option, *QUIET)
    assert result.ret == USAGE
    result.stderr.fnmatch_lines([message])


def test_a_baseline_with_missing_keys_gets_one_message(pytester: pytest.Pytester) -> None:
    path = ours(pytester)
    data = json.loads(path.read_text())
    del data["metrics"], data["config"]["mode"]
    (pytester.path / "base.json").write_text(json.dumps(data))
    usage(
        pytester.runpytest("--model=always-a", "--dataset=sample", "--baseline=base.json", *QUIET),
        "*--baseline */base.json: not a readable mediconfusion-tests results.json (*not a complete results.json: "
        "'metrics': field required)",
    )


@pytest.mark.parametrize("command", [["summary"], ["report"], ["compare"]])
def test_tools_on_an_incomplete_results_file_say_so(
    pytester: pytest.Pytester, command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    from mediconfusion_tests.cli import main

    path = ours(pytester)
    data = json.loads(path.read_text())
    del data["pairs"][0]["truth"]
    path.write_text(json.dumps(data))
    capsys.readouterr()
    assert main([*command, str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "not a complete results.json: 'pairs.0.truth': field required" in err[0]


# -- fuzzed: whatever a field holds, the answer is exit 4 with the field named ------------------------------------
JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**6), max_value=10**6),
    st.floats(allow_nan=False),
    st.text(max_size=8),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
DATASET_FIELDS = ["im_1_local", "im_2", "category_1", "question", "option_B", "im_2_correct"]


def _fits(field: str, value: object) -> bool:
    """Values the schema rightly accepts (they must not be counted as malformed)."""
    if field == "im_1_local":
        return (isinstance(value, int) and not isinstance(value, bool) and value >= 0) or (
            isinstance(value, float) and value.is_integer() and value >= 0
        )
    if field == "im_2_correct":
        return value in ("A", "B")
    if field == "category_1":
        return isinstance(value, list) and bool(value) and all(isinstance(c, str) for c in value)
    return isinstance(value, str) and bool(value.strip())


def test_fuzzed_dataset_fields(pytester: pytest.Pytester, dataset: Path) -> None:
    original = records(dataset)

    @FUZZ
    @given(st.sampled_from(DATASET_FIELDS), JUNK)
    def check(field: str, value: object) -> None:
        if _fits(field, value):
            return
        data = json.loads(json.dumps(original))
        data["90104"][field] = value
        write(dataset, data)
        result = pytester.runpytest("--model=random", f"--dataset={dataset}", "--collect-only", "-q", *QUIET)
        assert result.ret == USAGE, (field, value, result.stdout.str())
        text = result.stderr.str()
        assert "Traceback" not in text
        assert f"pair 90104: field '{field}'" in text, text

    check()


REPLAY_FIELDS = ["full_answer", "A", "B"]


def test_fuzzed_harness_replay_fields(pytester: pytest.Pytester) -> None:
    @FUZZ
    @given(st.sampled_from(REPLAY_FIELDS), JUNK)
    def check(field: str, value: object) -> None:
        if value is None or (
            field != "full_answer" and isinstance(value, (int, float)) and not isinstance(value, bool)
        ):
            return
        if field == "full_answer" and isinstance(value, str):
            return
        image = {"full_answer": "A", "A": 1, "B": 0, field: value}
        entry = {"answer": {"im1": image, "im2": {"full_answer": "B", "A": 0, "B": 1}}, "score": {}}
        (pytester.path / "h.json").write_text(json.dumps({"90101": entry}))
        result = pytester.runpytest(
            "--model=replay:h.json", "--dataset=sample", "--allow-missing-answers", "--collect-only", "-q", *QUIET
        )
        assert result.ret == USAGE, (field, value, result.stdout.str())
        text = result.stderr.str()
        assert "Traceback" not in text
        assert "pair 90101: im1" in text, text
        assert field in text or "full_answer" in text, text

    check()


PYPROJECT_KEYS = {
    "seed": int,
    "allow_missing_images": bool,
    "max_new_tokens": int,
    "alpha": float,
    "results_dir": str,
    "fail_on_significant_regression": bool,
}


def _toml_char(char: str) -> str:
    if char in '"\\':
        return "\\" + char
    return f"\\u{ord(char):04x}" if ord(char) < 0x20 or 0x7F <= ord(char) <= 0x9F else char


def _toml(value: object) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value) if math.isfinite(value) else None
    if isinstance(value, str):
        return '"' + "".join(_toml_char(c) for c in value) + '"'
    if isinstance(value, list):
        return json.dumps(value)
    return None


def test_fuzzed_pyproject_values(pytester: pytest.Pytester) -> None:
    @FUZZ
    @given(st.sampled_from(sorted(PYPROJECT_KEYS)), JUNK)
    def check(key: str, value: object) -> None:
        kind = PYPROJECT_KEYS[key]
        text = _toml(value)
        fits = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
        if text is None or fits or (kind is float and isinstance(value, int) and not isinstance(value, bool)):
            return
        (pytester.path / "pyproject.toml").write_text(f"[tool.mediconfusion]\n{key} = {text}\n", encoding="utf-8")
        result = pytester.runpytest("--model=random", "--dataset=sample", "--collect-only", "-q", *QUIET)
        assert result.ret == USAGE, (key, value, result.stdout.str())
        err = result.stderr.str()
        assert "Traceback" not in err
        assert f"[tool.mediconfusion] {key} must be" in err, err

    check()
