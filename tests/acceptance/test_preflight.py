"""The first minute with a real model: everything a run lacks, told once, on the controller, in seconds."""

from __future__ import annotations

import json
import shutil
import time
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pathlib import Path

USAGE = pytest.ExitCode.USAGE_ERROR
QUIET = ("-p", "no:cacheprovider")
#: Generous for a loaded CI machine; the preflight itself takes about 2 s here (two xdist workers would
#: take longer than this just to import torch and load the plugin, so a bound this low proves no worker ran).
WALL_BOUND_S = 30


def run(pytester: pytest.Pytester, *args: str) -> tuple[pytest.RunResult, float]:
    started = time.perf_counter()
    result = pytester.runpytest_subprocess(*args, *QUIET)
    return result, time.perf_counter() - started


def test_a_preset_without_weights_stops_before_any_worker(pytester: pytest.Pytester) -> None:
    result, seconds = run(pytester, "--model=llava", "--dataset=sample", "-n", "2")
    assert result.ret == USAGE, result.stdout.str() + result.stderr.str()
    err = result.stderr.str()
    assert err.count("ERROR") == 1, err
    assert "llava-hf/llava-v1.6-mistral-7b-hf is not in the Hugging Face cache" in err
    assert "`hf download llava-hf/llava-v1.6-mistral-7b-hf`" in err
    out = result.stdout.str()
    assert "Interrupted" not in out + err
    assert "ERROR at setup" not in out
    assert "workers" not in out  # xdist never started one
    assert seconds < WALL_BOUND_S, seconds


def test_every_missing_piece_in_one_numbered_message(pytester: pytest.Pytester, sample_dir: Path) -> None:
    """med-flamingo offline, with a dataset whose images are nowhere: the LLaMA option, the checkpoint, the
    vision encoder and the images, in one message; the images counted, not listed by the hundred."""
    data = pytester.path / "bench"
    shutil.copytree(sample_dir, data)
    shutil.rmtree(data / "images")
    (data / "image_dict.json").write_text(json.dumps({}))
    result, seconds = run(
        pytester, "--model=med-flamingo", f"--dataset={data}", f"--images={pytester.path / 'none'}", "-n", "2"
    )
    assert result.ret == USAGE
    err = result.stderr.str()
    assert err.count("ERROR") == 1, err
    result.stderr.fnmatch_lines(
        [
            "ERROR: mediconfusion: 4 problems stop this run; each was checked before any model or worker started:",
            "1. --model=med-flamingo needs the LLaMA-7B it was trained on: --llama-path=DIR*",
            "2. --model=med-flamingo: med-flamingo/med-flamingo is not in the Hugging Face cache*",
            "3. --model=med-flamingo (its vision encoder): openai/clip-vit-large-patch14*",
            "4. 15 of 15 benchmark images are missing or unreadable (all missing; *",
            "*... and 7 more",
            f"*Fetch the images with:  mediconfusion fetch-images --out {pytester.path / 'none'} --dataset {data}",
        ]
    )
    assert seconds < WALL_BOUND_S, seconds


def test_a_folder_that_does_not_exist_is_no_such_folder(pytester: pytest.Pytester) -> None:
    result, _ = run(pytester, "--model=hf:./checkpoints/mine", "--dataset=sample")
    assert result.ret == USAGE
    result.stderr.fnmatch_lines(["ERROR: mediconfusion: --model=hf:*/checkpoints/mine: no such folder: */mine"])
    assert "hf download" not in result.stderr.str()


def test_the_hub_dataset_hint_names_the_run_s_own_model(pytester: pytest.Pytester) -> None:
    result, _ = run(pytester, "--model=random")
    assert result.ret == USAGE
    result.stderr.fnmatch_lines(["*pytest --model=random --dataset=data/MediConfusion"])
    assert "--model=..." not in result.stderr.str()
