"""Bad input: one clear usage error before any model loads, naming the pair, file, field or option."""

from __future__ import annotations

import json
import shutil
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

USAGE = pytest.ExitCode.USAGE_ERROR
QUIET = ("-p", "no:cacheprovider")


@pytest.fixture
def dataset(pytester: pytest.Pytester, sample_dir: Path) -> Path:
    """A writable copy of the sample benchmark inside the pytester folder."""
    folder = pytester.path / "bench"
    shutil.copytree(sample_dir, folder)
    return folder


def edit_records(folder: Path, change: Callable[[dict], None]) -> None:
    path = folder / "dataset.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data, indent=2))


def usage_error(result: pytest.RunResult, *patterns: str) -> None:
    assert result.ret == USAGE, result.stdout.str()
    result.stderr.fnmatch_lines(list(patterns))


def test_unknown_model_lists_the_known_ones(pytester: pytest.Pytester) -> None:
    usage_error(
        pytester.runpytest("--model=llava-42", *QUIET),
        "ERROR: mediconfusion: unknown model 'llava-42'. Known models: always-a, always-b, anthropic, blip2, claude, *",
    )


def test_freeform_without_a_judge_uses_the_default_judge(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    usage_error(
        pytester.runpytest("--model=demo", "--mode=freeform", *QUIET),
        "ERROR: mediconfusion: the default judge, used when --judge is not given (--judge=gpt-4o): "
        "--model=gpt-4o needs OPENAI_API_KEY in the environment (or a file passed with --env-file); "
        "another judge: --judge=SPEC*",
    )


def test_unknown_judge(pytester: pytest.Pytester) -> None:
    usage_error(
        pytester.runpytest("--model=demo", "--mode=freeform", "--judge=gpt-17", *QUIET),
        "*unknown model 'gpt-17'*",
    )


@pytest.mark.parametrize(
    ("gate", "message"),
    [
        ("set_accuracy=>0.2", "*argument --gate: malformed gate 'set_accuracy=>0.2'*"),
        ("accuracy>=0.2", "*unknown metric 'accuracy'*"),
        ("set_accuracy>=30", "*30 is not a fraction in [[]0, 1[]] (write 0.25, not 25)"),
    ],
)
def test_malformed_gate(pytester: pytest.Pytester, gate: str, message: str) -> None:
    usage_error(pytester.runpytest("--model=random", "--gate", gate, *QUIET), message)


def test_gate_on_an_unknown_category(pytester: pytest.Pytester) -> None:
    usage_error(
        pytester.runpytest("--model=random", "--dataset=sample", "--gate", "Dental.confusion<=0.5", *QUIET),
        "*unknown category 'Dental'; the dataset has Cerebral, Musculoskeletal, Cardiac*",
    )


def test_malformed_gate_in_pyproject(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml('[tool.mediconfusion]\ngate = "set_accuracy>>0.2"\n')
    usage_error(pytester.runpytest("--model=random", *QUIET), "*malformed gate 'set_accuracy>>0.2'*")


def test_unreadable_dataset_names_file_and_line(pytester: pytest.Pytester, dataset: Path) -> None:
    text = (dataset / "dataset.json").read_text().splitlines()
    text[5] = text[5] + ",,"
    (dataset / "dataset.json").write_text("\n".join(text))
    usage_error(
        pytester.runpytest("--model=random", f"--dataset={dataset}", *QUIET),
        f"*{dataset}/dataset.json: line 6, column *: invalid JSON*",
    )


def test_missing_field_and_bad_answer_name_pair_and_field(pytester: pytest.Pytester, dataset: Path) -> None:
    def change(data: dict) -> None:
        del data["90102"]["option_B"]
        data["90107"]["im_1_correct"] = "b"

    edit_records(dataset, change)
    usage_error(
        pytester.runpytest("--model=random", f"--dataset={dataset}", *QUIET),
        "*2 problem(s) in the dataset records:",
        "*- pair 90102: missing field(s) 'option_B'",
        "*- pair 90107: field 'im_1_correct' must be 'A' or 'B', got 'b'",
    )


def test_duplicate_pair_ids(pytester: pytest.Pytester, dataset: Path) -> None:
    text = (dataset / "dataset.json").read_text()
    (dataset / "dataset.json").write_text(text.replace('"90102": {', '"90101": {', 1))
    usage_error(pytester.runpytest("--model=random", f"--dataset={dataset}", *QUIET), "*duplicate pair id(s): 90101*")


def test_missing_and_corrupt_images_are_listed_in_one_error(scripted: pytest.Pytester, dataset: Path) -> None:
    (dataset / "images" / "90005.jpg").unlink()
    (dataset / "images" / "90008.jpg").write_bytes(b"\xff\xd8\xff broken")
    result = scripted.runpytest("--model=oracle", f"--dataset={dataset}", *QUIET)
    usage_error(
        result,
        "ERROR: mediconfusion: 2 of 15 benchmark images are missing or unreadable*",
        "*- image 90005 (sample/radiology/images/SAMPLE_90005.jpg): missing [[]pairs 90104, 90107, 90115[]]",
        "*- image 90008 (*): cannot be decoded*",
        "Fetch the images with:  mediconfusion fetch-images --out *",
    )
    assert result.stderr.str().count("ERROR") == 1


def test_allow_missing_images_skips_and_says_how_many_were_scored(scripted: pytest.Pytester, dataset: Path) -> None:
    (dataset / "images" / "90003.jpg").unlink()
    result = scripted.runpytest("--model=oracle", f"--dataset={dataset}", "--allow-missing-images", *QUIET)
    result.assert_outcomes(passed=15, skipped=1)
    result.stdout.fnmatch_lines(["scored 15 of 16 pairs (1 skipped)", "skipped: 90103 (image 90003 missing)"])


def test_replay_file_of_the_wrong_shape(pytester: pytest.Pytester) -> None:
    (pytester.path / "answers.json").write_text(json.dumps({"90101": {"answer": ["A", "B"]}}))
    usage_error(
        pytester.runpytest("--model=replay:answers.json", "--dataset=sample", *QUIET),
        '*answers.json: pair 90101: expected {"answer": {"im1": ..., "im2": ...}, "score": ...}',
    )


def test_hub_unreachable_and_nothing_cached_says_how_to_go_local(pytester: pytest.Pytester) -> None:
    usage_error(
        pytester.runpytest("--model=random", *QUIET),
        "*Could not get dataset.json of the Hugging Face dataset shahab7899/MediConfusion*",
        "*--dataset=data/MediConfusion",
    )
