"""Input that used to end in a traceback or an INTERNALERROR ends in a usage error naming what is wrong."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest
from helpers import newest_run

from mediconfusion_tests.cli import main as cli

if TYPE_CHECKING:
    from pathlib import Path

SAMPLE = ("--dataset=sample", "-p", "no:cacheprovider")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--shard=17/17",), "--shard 17/17 gets no pair: the dataset's 16 pairs dealt among 17 shards leave it empty"),
        (("--shard=3/4", "--limit=2"), "--shard 3/4 gets no pair: the first 2 (--limit 2) of the dataset's 16 pairs"),
        (("--probe-examples=1000000",), "--probe-examples: expected a whole number from 1 to 100, got '1000000'"),
        (("--max-retries=-1",), "--max-retries: expected a whole number from 0 to 100, got '-1'"),
        (("--request-timeout=0",), "--request-timeout: expected a finite number above 0, got '0'"),
        (("--image-backend=pil",), "--model=random makes its pixels its own way"),
    ],
    ids=[
        "shard-past-the-pairs",
        "shard-past-the-limit",
        "probe-examples",
        "max-retries",
        "request-timeout",
        "image-backend-without-an-image-processor",
    ],
)
def test_options_that_cannot_work_are_usage_errors(
    pytester: pytest.Pytester, args: tuple[str, ...], message: str
) -> None:
    result = pytester.runpytest("--model=random", *args, *SAMPLE)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str()
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()


def test_torchvision_asked_for_where_it_is_not_installed_is_a_usage_error(pytester: pytest.Pytester) -> None:
    from mediconfusion_tests.models.image_backends import torchvision_installed

    if torchvision_installed():
        pytest.skip("torchvision is installed here (tests/acceptance/test_image_backends.py covers that side)")
    result = pytester.runpytest("--model=hf:some/checkpoint", "--image-backend=torchvision", *SAMPLE)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--image-backend=torchvision needs torchvision" in result.stderr.str()
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()


def test_pyproject_bounds_are_the_options_bounds(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml("[tool.mediconfusion]\nprobe_examples = 1000000\n")
    result = pytester.runpytest("--model=random", *SAMPLE)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "probe examples must be a whole number from 1 to 100, got 1000000" in result.stderr.str()


def test_a_dataset_with_an_absurdly_long_integer_is_refused_naming_the_file(
    pytester: pytest.Pytester, sample_dir: Path
) -> None:
    text = (sample_dir / "dataset.json").read_text()
    records = json.loads(text)
    first = next(iter(records))
    records[first]["im_1_local"] = 7
    folder = pytester.path / "long"
    folder.mkdir()
    (folder / "dataset.json").write_text(json.dumps(records).replace('"im_1_local": 7', '"im_1_local": ' + "9" * 5000))
    result = pytester.runpytest("--model=random", f"--dataset={folder}", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [f"*pair {first}*field 'im_1_local' must be a non-negative integer image id, got '99999*...*"]
    )

    # The same in dataset.csv, where the number is text until read: named with the field, shown cut short.
    import csv

    csv_folder = pytester.path / "long-csv"
    csv_folder.mkdir()
    records = json.loads(text)
    records[first]["im_1_local"] = "9" * 5000
    columns = ["id", *records[first]]
    with (csv_folder / "dataset.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, columns)
        writer.writeheader()
        for key, record in records.items():
            writer.writerow({"id": key, **{k: str(v) for k, v in record.items()}})
    result = pytester.runpytest("--model=random", f"--dataset={csv_folder}", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*field 'im_1_local' must be a non-negative integer image id, got '99999*...*"])


@pytest.mark.parametrize("version", ["true", "2.0", '"2"'])
def test_a_schema_version_that_is_not_an_integer_is_refused(
    pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str], version: str
) -> None:
    pytester.runpytest("--model=random", "--limit=2", *SAMPLE)
    results = newest_run(pytester.path) / "results.json"
    text = results.read_text().replace('"schema_version": 2', f'"schema_version": {version}', 1)
    results.write_text(text)
    assert cli(["summary", str(results)]) == 2
    assert f"schema_version {json.loads(version)!r} is not an integer (1 or 2)" in capsys.readouterr().err


def test_report_refuses_a_number_that_overflows_instead_of_writing_infinity(
    pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    pytester.runpytest("--model=random", "--limit=2", *SAMPLE)
    results = newest_run(pytester.path) / "results.json"
    document = json.loads(results.read_text())
    results.write_text(json.dumps(document).replace('"duration_s": ', '"duration_s": 1e999, "was": ', 1))
    output = pytester.path / "out.html"
    assert cli(["report", str(results), "-o", str(output)]) == 2
    assert "the number 1e999 is too large: it overflows to infinity" in capsys.readouterr().err
    assert not output.exists()
