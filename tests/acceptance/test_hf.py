"""Local checkpoints through the suite: hf:PATH, presets, xdist, batch sizes, prompt files, judges, GPUs."""

from __future__ import annotations

import json

import pytest
from helpers import read_results

pytest.importorskip("transformers")

from typing import TYPE_CHECKING

from tiny_models import build_tiny

if TYPE_CHECKING:
    from pathlib import Path

SAMPLE = ("--dataset=sample", "-p", "no:cacheprovider")


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("checkpoints")
    return {family: build_tiny(family, root / family) for family in ("llava", "qwen2-vl")}


def answers_of(folder: Path) -> list:
    return [(p["pair_id"], p["answers"]) for p in read_results(folder)["pairs"]]


@pytest.mark.usefixtures("hf_ready")
@pytest.mark.parametrize("family", ["llava", "qwen2-vl"])
def test_same_answers_with_and_without_xdist_and_any_batch_size(
    pytester: pytest.Pytester, checkpoints: dict, family: str
) -> None:
    model = f"--model=hf:{checkpoints[family]}"
    common = (model, "--mode=greedy", "--no-cache", *SAMPLE)
    pytester.runpytest(*common, "--batch-size=1")
    alone = read_results(pytester.path)
    pytester.runpytest_subprocess(*common, "--batch-size=8", "-n", "2")
    spread = read_results(pytester.path)
    assert spread["metrics"] == alone["metrics"]
    for (pid, left), (_, right) in zip(
        answers_of(pytester.path), [(p["pair_id"], p["answers"]) for p in alone["pairs"]], strict=True
    ):
        for a, b in zip(left, right, strict=True):
            assert a["decision"] == b["decision"], pid
            assert a["scores"] == pytest.approx(b["scores"], rel=1e-4)
    instance = next(iter(spread["model"]["instances"].values()))
    assert instance["family"] == family


def test_chunks_of_pairs_stay_on_one_worker(scripted: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = scripted.path / "calls.log"
    monkeypatch.setenv("MC_SCRIPT_CALLS", str(calls))
    scripted.runpytest_subprocess("--model=scripted", "--batch-size=8", "-n", "2", *SAMPLE)
    batches = sorted(calls.read_text().splitlines())
    expected = [",".join(str(90100 + i) for i in range(start, start + 4)) for start in (1, 5, 9, 13)]
    assert batches == expected  # one model call per chunk of 4 pairs (8 images), never split across workers
    workers = read_results(scripted.path)["model"]["instances"]
    assert set(workers) == {"gw0", "gw1"}


def test_freeform_with_a_judge(scripted: pytest.Pytester) -> None:
    result = scripted.runpytest(
        "--model=echo", "--mode=freeform", "--judge=keyword-judge", "--gate", "set_accuracy>=1", *SAMPLE
    )
    assert result.ret == 0
    results = read_results(scripted.path)
    first = results["pairs"][0]["answers"][0]
    assert first["scores"] == {"A": 9.0, "B": 2.0} or first["scores"] == {"A": 2.0, "B": 9.0}
    assert first["meta"]["judge"].startswith("A: ")
    assert "[Question]" in first["meta"]["judge_prompt"]
    assert results["model"]["instances"]["main"]["judge"]["name"] == "keyword-judge"


def test_judge_answers_are_cached(scripted: pytest.Pytester) -> None:
    scripted.runpytest("--model=echo", "--mode=freeform", "--judge=keyword-judge", *SAMPLE)
    scripted.runpytest("--model=echo", "--mode=freeform", "--judge=keyword-judge", *SAMPLE)
    answers = [a for p in read_results(scripted.path)["pairs"] for a in p["answers"]]
    assert all(a["cached"] for a in answers)


@pytest.mark.usefixtures("hf_ready")
def test_paper_prompt_file_through_the_suite(pytester: pytest.Pytester, checkpoints: dict, shared_dir: Path) -> None:
    result = pytester.runpytest(
        f"--model=hf:{checkpoints['llava']}", f"--prompts={shared_dir / 'paper_prompts.json'}", *SAMPLE
    )
    assert result.ret == 1
    results = read_results(pytester.path)
    prompt = results["pairs"][0]["prompts"][0]
    assert prompt.endswith('Your answer should be just one letter.\n#answer: ("')
    assert results["model"]["instances"]["main"]["prompts"] == "paper:paper_prompts.json:llava"


def test_bad_prompt_file_is_a_usage_error(pytester: pytest.Pytester, tmp_path: Path) -> None:
    bad = tmp_path / "prompts.json"
    bad.write_text(json.dumps({"prompts": {"mc": {"default": "{} {}"}, "greedy": {}, "prefix": {}, "gpt4": {}}}))
    result = pytester.runpytest("--model=random", f"--prompts={bad}", *SAMPLE)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*prompts.mc.default: expected 3 '{}' placeholder(s) for mode mc, found 2*"])


def test_presets_are_listed_with_their_checkpoints(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--list-models")
    result.stdout.fnmatch_lines(
        [
            "*llava *LLaVA-NeXT Mistral 7B (the paper's LLaVA row): llava-hf/llava-v1.6-mistral-7b-hf*",
            "*medgemma *google/medgemma-4b-it*",
            "*qwen2.5-vl *Qwen/Qwen2.5-VL-7B-Instruct*",
        ]
    )


def test_a_preset_offline_says_it_cannot_load(pytester: pytest.Pytester) -> None:
    """Found on the controller before any model loads: a usage error with the download command."""
    result = pytester.runpytest_subprocess("--model=qwen2.5-vl", "-x", *SAMPLE)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*--model=qwen2.5-vl: Qwen/Qwen2.5-VL-7B-Instruct is not in the Hugging Face cache*hf download Qwen/*"]
    )


def test_auto_workers_follow_gpu_groups(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1,2,3")
    pytester.runpytest_subprocess("--model=random", "--gpus-per-worker=2", "--batch-size=2", "-n", "auto", *SAMPLE)
    results = read_results(pytester.path)
    assert results["environment"]["xdist_workers"] == 2
    devices = {name: i["cuda_visible_devices"] for name, i in results["model"]["instances"].items()}
    assert devices == {"gw0": "0,1", "gw1": "2,3"}


@pytest.mark.usefixtures("hf_ready")
def test_prefix_fallbacks_are_counted_and_named(pytester: pytest.Pytester, tmp_path: Path) -> None:
    """Tiny Llama 3.2 Vision with a "role: text" template: each option follows a space, so the option encoded
    alone (the original's rule for Llama) is mostly not in the sequence; those images fall back to context."""
    folder = build_tiny("mllama", tmp_path / "mllama")
    result = pytester.runpytest(f"--model=hf:{folder}", "--mode=prefix", "--no-store", "--limit=3", *SAMPLE)
    document = read_results(pytester.path)
    fidelity = document["fidelity"]
    assert fidelity["prefix_tokens"] == "paper"
    assert fidelity["paper_rule"] == "Models/llama.py"
    count = fidelity["fallbacks"]
    assert count > 0
    assert fidelity["paper_images"] + count == 6
    assert len(fidelity["fallback_images"]) == count
    assert all("not in the sequence" in why for why in fidelity["fallback_images"].values())
    fell_back = {
        f"{p['pair_id']}/{index}"
        for p in document["pairs"]
        for index, answer in enumerate(p["answers"])
        if answer["meta"].get("prefix_fallback")
    }
    assert fell_back == set(fidelity["fallback_images"])
    assert any(f"{count} image(s) scored by context" in w for w in document["warnings"])
    assert all(a["decision"] in ("A", "B") for p in document["pairs"] for a in p["answers"])
    result.stdout.fnmatch_lines([f"*{count} image(s) scored by context*"])

    pytester.runpytest(
        f"--model=hf:{folder}", "--mode=prefix", "--no-store", "--limit=3", "--prefix-tokens=context", *SAMPLE
    )
    fidelity = read_results(pytester.path)["fidelity"]
    assert (fidelity["prefix_tokens"], fidelity["fallbacks"]) == ("context", 0)
