"""The suite decides like the original harness's own code, family by family, mode by mode.

On the 176 real pairs (``../shared/mediconfusion``) with the paper's prompt file, on tiny random-weight
checkpoints of BLIP-2, InstructBLIP, LLaVA-NeXT and Llama 3.2 Vision: greedy and prefix decisions, and
mc's generated continuations (``--generation=paper``), in the dtype the original loaded each family in
(``--dtype=paper``), must equal the original's at batch size 1 and auto. Compared with two sources:

- ``transcription``: tests/original_harness.py, its per-image calling code written out (always runs);
- ``harness``: the authors' own ``utils/answering.py`` and ``Models/*.py``, imported from the checkout
  that MEDICONFUSION_HARNESS_DIR names (tests/real_harness.py); skipped, saying so, without it.

Images where the original raised ("Answer tokens not found") are scored by context in the suite and
counted there; they are left out of the comparison. MEDICONFUSION_FIDELITY_REPORT=FILE writes images
compared and differing per source, family and mode as JSON lines.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import original_harness
import pytest
from helpers import read_results, small_placeholder_images
from tiny_models import LLAMA3_TEMPLATE, build_mllama, build_tiny

from mediconfusion_tests.data.files import read_pairs
from mediconfusion_tests.data.images import LOCAL, ImageLayout
from mediconfusion_tests.models.hf import Fidelity, Generation, HFModel
from mediconfusion_tests.models.hf_loading import LoadSettings
from mediconfusion_tests.prompts import load_paper_prompts
from mediconfusion_tests.run.engine import Engine

FAMILIES = ("blip2", "instructblip", "llava-next", "mllama")

#: Prompt-file keys the original used per family (its answering classes' ``key``).
PAPER_KEYS = {"blip2": "blip2", "instructblip": "instructblip", "llava-next": "llava", "mllama": "llama"}

SUITE_KEYS = {"blip2": "blip2", "instructblip": "instructblip", "llava-next": "llava", "mllama": "llama"}

#: mc generates up to 32 or 100 tokens per image on both sides: all 176 pairs take ~6 minutes on 2 cores, so by
#: default the first 12; MEDICONFUSION_FIDELITY_FULL=1 runs all of them.
MC_PAIRS = None if os.environ.get("MEDICONFUSION_FIDELITY_FULL") == "1" else 12

HARNESS_DIR = os.environ.get("MEDICONFUSION_HARNESS_DIR")
REPORT = os.environ.get("MEDICONFUSION_FIDELITY_REPORT")


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Any], ImageLayout, Path]:
    """The 176 real pairs, with a small seeded placeholder JPEG per image (the processors resize them anyway)."""
    from conftest import SHARED

    shared_dir = SHARED
    if not (shared_dir / "dataset.json").is_file():
        pytest.skip(f"the real MediConfusion metadata is not at {shared_dir} (set MEDICONFUSION_SHARED)")

    pairs = read_pairs(shared_dir / "dataset.json")
    folder = tmp_path_factory.mktemp("real-images")
    small_placeholder_images(folder, pairs)
    return pairs, ImageLayout(LOCAL, str(folder)), shared_dir / "paper_prompts.json"


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folders = {}
    for family in FAMILIES:
        folder = tmp_path_factory.mktemp("fidelity") / family
        if family == "mllama":
            build_mllama(folder, template=LLAMA3_TEMPLATE)
        else:
            build_tiny(family, folder)
        folders[family] = folder
    return folders


@pytest.fixture(scope="module")
def real_code(tmp_path_factory: pytest.TempPathFactory) -> Any:
    if not HARNESS_DIR:
        pytest.skip(
            "MEDICONFUSION_HARNESS_DIR is not set: the comparison with the authors' own code needs a checkout of "
            "github.com/MShahabSepehri/MediConfusion (the transcription is compared with in any case)"
        )
    pytest.importorskip("accelerate")  # the authors' Models/llama.py loads with device_map
    from real_harness import RealHarness

    return RealHarness(Path(HARNESS_DIR), tmp_path_factory.mktemp("harness-configs"))


def harness_answers(
    family: str, folder: Path, pairs: list[Any], layout: ImageLayout, prompts_file: Path, mode: str
) -> dict[str, Any]:
    import torch
    from PIL import Image

    processor, model = original_harness.load(family, folder)
    table = json.loads(prompts_file.read_text())["prompts"]
    entries = table[mode]
    template = entries.get(PAPER_KEYS[family], entries["default"])
    out: dict[str, Any] = {}
    with torch.inference_mode():
        for pair in pairs:
            a, b = pair.options
            for index, ref in enumerate(pair.images):
                image = Image.open(f"{layout.root}/{ref.local_id}.jpg").convert("RGB")
                key = f"{pair.id}/{index}"
                if mode == "prefix":
                    problem = {"question": pair.question, "option_A": a, "option_B": b, "format": template}
                    out[key] = original_harness.prefix(family, model, processor, problem, image)
                elif mode == "greedy":
                    question = template.format(pair.question, a, b)
                    out[key] = original_harness.greedy(family, model, processor, question, image)
                else:
                    question = template.format(pair.question, a, b)
                    out[key] = original_harness.mc(family, model, processor, question, image)
    return out


def suite_answers(
    family: str,
    folder: Path,
    pairs: list[Any],
    layout: ImageLayout,
    prompts_file: Path,
    mode: str,
    fidelity: Fidelity | None = None,
) -> dict[str | int, dict[str, Any]]:
    model = HFModel(
        LoadSettings(str(folder), dtype="paper"),
        name=family,
        generation=Generation(preset="paper"),
        fidelity=fidelity or Fidelity(),
    )
    prompts = load_paper_prompts(prompts_file, SUITE_KEYS[family])
    found: dict[str | int, dict[str, Any]] = {}
    for batch in (1, "auto"):
        engine = Engine(model, mode, prompts, layout, None, batch_size=batch, schedule=pairs, chunk_of=lambda _: 0)
        answers: dict[str, Any] = {}
        for pair in pairs:
            outcome = engine.run_pair(pair)
            assert outcome.error is None, (pair.id, outcome.error)
            for index, answer in enumerate(outcome.answers or ()):
                answers[f"{pair.id}/{index}"] = answer
        found[batch] = answers
    return found


@pytest.mark.parametrize("mode", ["greedy", "prefix", "mc"])
@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("source", ["transcription", "harness"])
def test_decisions_equal_the_original_code(
    real, checkpoints, request: pytest.FixtureRequest, source: str, family: str, mode: str
) -> None:
    pairs, layout, prompts_file = real
    pairs = pairs[:MC_PAIRS] if mode == "mc" else pairs
    if source == "harness":
        harness = request.getfixturevalue("real_code")
        expected = harness.answers(family, checkpoints[family], pairs, layout.root, mode)
    else:
        expected = harness_answers(family, checkpoints[family], pairs, layout, prompts_file, mode)
    assert len(expected) == 2 * len(pairs)
    raised = {key for key, value in expected.items() if value is None}
    for batch, answers in suite_answers(family, checkpoints[family], pairs, layout, prompts_file, mode).items():
        if mode == "mc":
            got = {key: answer.raw for key, answer in answers.items()}
        else:
            got = {key: answer.model_letter for key, answer in answers.items()}
        compared = [key for key in expected if key not in raised]
        differ = {key: (expected[key], got[key]) for key in compared if expected[key] != got[key]}
        _report(source, family, mode, batch, len(compared), len(differ), len(raised))
        assert not differ, (
            f"{source}: {family} {mode} batch {batch}: {len(differ)} of {len(compared)} differ, "
            f"e.g. {list(differ.items())[:3]}"
        )
        if mode == "prefix":
            # Where the original raised, the suite scored by context and said why; elsewhere its rule held.
            assert {k for k, a in answers.items() if a.meta["prefix_tokens"] != "paper"} == raised
            assert all("prefix_fallback" in answers[key].meta for key in raised)


def _report(source: str, family: str, mode: str, batch: int | str, compared: int, differ: int, raised: int) -> None:
    if not REPORT:
        return
    row = {"source": source, "family": family, "mode": mode, "batch": batch}
    row.update(images=compared, differ=differ, original_raised=raised)
    with Path(REPORT).open("a") as handle:
        handle.write(json.dumps(row) + "\n")


@pytest.mark.parametrize(("family", "mode"), [("blip2", "greedy"), ("instructblip", "prefix"), ("mllama", "prefix")])
def test_our_own_rules_differ_from_the_original(real, checkpoints, family: str, mode: str) -> None:
    """--prefix-tokens/--letter-tokens=context read other tokens: the differential test above can tell."""
    pairs, layout, prompts_file = real
    expected = harness_answers(family, checkpoints[family], pairs, layout, prompts_file, mode)
    context = Fidelity(prefix_tokens="context", letter_tokens="context")
    answers = suite_answers(family, checkpoints[family], pairs, layout, prompts_file, mode, context)[1]
    assert sum(expected[key] != answers[key].model_letter for key in expected) > 0


def test_the_run_records_the_dtype_and_reproduces_bf16_arithmetic_one_image_at_a_time(
    checkpoints, pytester: pytest.Pytester
) -> None:
    """Llama 3.2 Vision under the defaults: bfloat16 as Models/llama.py loaded it, one image at a time;
    an explicit --dtype wins and is recorded as given."""
    args = (f"--model=hf:{checkpoints['mllama']}", "--mode=greedy", "--dataset=sample", "--limit=2", "--no-store")
    pytester.runpytest(*args, "-p", "no:cacheprovider")
    fidelity = read_results(pytester.path)["fidelity"]
    assert (fidelity["dtype_setting"], fidelity["dtype_given"], fidelity["dtype"]) == ("paper", False, "bfloat16")
    assert fidelity["batching"].startswith("one image at a time")
    assert fidelity["image_backend"] == "pil"
    pytester.runpytest(*args, "--dtype=fp32", "-p", "no:cacheprovider")
    results = read_results(pytester.path)
    fidelity = results["fidelity"]
    assert (fidelity["dtype_setting"], fidelity["dtype_given"], fidelity["dtype"]) == ("fp32", True, "float32")
    assert fidelity["batching"] == "batched"
    assert fidelity["image_backend"] == "pil"
    assert "original harness" in results["model"]["instances"]["main"]["image_backend_reason"]


def test_instructblip_mc_is_sampled_from_the_seed_per_image(real, checkpoints) -> None:
    pairs, layout, prompts_file = real
    pairs = pairs[:6]

    def texts(seed: int, batch: int | str) -> list[str]:
        model = HFModel(
            LoadSettings(str(checkpoints["instructblip"]), dtype="paper"),
            name="instructblip",
            generation=Generation(preset="paper", seed=seed),
        )
        prompts = load_paper_prompts(prompts_file, "instructblip")
        engine = Engine(model, "mc", prompts, layout, None, batch_size=batch, schedule=pairs, chunk_of=lambda _: 0)
        out = []
        for pair in pairs:
            outcome = engine.run_pair(pair)
            out += [answer.raw or "" for answer in outcome.answers or ()]
            assert all(dict(a.meta["sampled"])["temperature"] == 0.1 for a in outcome.answers or ())
        return out

    first = texts(0, 1)
    assert texts(0, "auto") == first  # the same draws whatever the batch
    again = texts(1, 1)
    assert sum(a != b for a, b in zip(first, again, strict=True)) >= len(first) // 2  # sampled, not searched
