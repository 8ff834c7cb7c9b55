"""The suite decides like the original harness's own calling code, family by family, mode by mode.

On the 176 real pairs (``../shared/mediconfusion``) with the paper's prompt file, on tiny random-weight
checkpoints of BLIP-2, InstructBLIP, LLaVA-NeXT and Llama 3.2 Vision: greedy and prefix decisions, and
mc's generated continuations (``--generation=paper``), must equal ``original_harness`` (a literal
transcription of the original's per-image code) at batch size 1 and auto. Prefix images where the
original would have raised are counted; on these tokenizers there are none.
"""

from __future__ import annotations

import json
import os
import random
from typing import TYPE_CHECKING, Any

import pytest

transformers = pytest.importorskip("transformers")

import original_harness  # noqa: E402
from tiny_models import LLAMA3_TEMPLATE, build_mllama, build_tiny  # noqa: E402

from mediconfusion_tests.data.files import read_pairs  # noqa: E402
from mediconfusion_tests.data.images import LOCAL, ImageLayout  # noqa: E402
from mediconfusion_tests.models.hf import Fidelity, Generation, HFModel  # noqa: E402
from mediconfusion_tests.models.hf_loading import LoadSettings  # noqa: E402
from mediconfusion_tests.prompts import load_paper_prompts  # noqa: E402
from mediconfusion_tests.run.engine import Engine  # noqa: E402

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.acceptance

FAMILIES = ("blip2", "instructblip", "llava-next", "mllama")
#: Prompt-file keys the original used per family (its answering classes' ``key``).
PAPER_KEYS = {"blip2": "blip2", "instructblip": "instructblip", "llava-next": "llava", "mllama": "llama"}
SUITE_KEYS = {"blip2": "blip2", "instructblip": "instructblip", "llava-next": "llava", "mllama": "llama"}
#: mc generates up to 100 tokens per image on both sides: all 176 pairs take ~6 minutes on 2 cores, so by
#: default the first 12; MEDICONFUSION_FIDELITY_FULL=1 runs all of them.
MC_PAIRS = None if os.environ.get("MEDICONFUSION_FIDELITY_FULL") == "1" else 12


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Any], ImageLayout, Path]:
    """The 176 real pairs, with a small seeded placeholder JPEG per image (the processors resize them anyway)."""
    from PIL import Image, ImageDraw

    from conftest import SHARED

    shared_dir = SHARED
    if not (shared_dir / "dataset.json").is_file():
        pytest.skip(f"the real MediConfusion metadata is not at {shared_dir} (set MEDICONFUSION_SHARED)")

    pairs = read_pairs(shared_dir / "dataset.json")
    folder = tmp_path_factory.mktemp("real-images")
    rng = random.Random(7)
    for image in {i.local_id: i for pair in pairs for i in pair.images}.values():
        width, height = rng.randint(40, 120), rng.randint(40, 120)
        canvas = Image.new("RGB", (width, height), tuple(rng.randint(0, 255) for _ in range(3)))
        draw = ImageDraw.Draw(canvas)
        for _ in range(6):
            x, y, r = rng.randint(0, width), rng.randint(0, height), rng.randint(3, 30)
            draw.ellipse((x - r, y - r, x + r, y + r), fill=tuple(rng.randint(0, 255) for _ in range(3)))
        canvas.save(folder / f"{image.local_id}.jpg", quality=90)
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


def harness_answers(
    family: str, folder: Path, pairs: list[Any], layout: ImageLayout, prompts_file: Path, mode: str
) -> dict[str, Any]:
    import torch
    from PIL import Image
    from transformers import AutoModelForImageTextToText, AutoProcessor

    processor = AutoProcessor.from_pretrained(folder)
    model = AutoModelForImageTextToText.from_pretrained(folder).eval()
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
        LoadSettings(str(folder)), name=family, generation=Generation(preset="paper"), fidelity=fidelity or Fidelity()
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
def test_decisions_equal_the_original_code(real, checkpoints, family: str, mode: str) -> None:
    pairs, layout, prompts_file = real
    pairs = pairs[:MC_PAIRS] if mode == "mc" else pairs
    expected = harness_answers(family, checkpoints[family], pairs, layout, prompts_file, mode)
    assert len(expected) == 2 * len(pairs)
    for batch, answers in suite_answers(family, checkpoints[family], pairs, layout, prompts_file, mode).items():
        if mode == "mc":
            got = {key: answer.raw for key, answer in answers.items()}
        else:
            got = {key: answer.model_letter for key, answer in answers.items()}
        differ = {key: (expected[key], got[key]) for key in expected if expected[key] != got[key]}
        assert not differ, (
            f"{family} {mode} batch {batch}: {len(differ)} of {len(expected)} differ, e.g. {list(differ.items())[:3]}"
        )
        if mode == "prefix":
            assert all(a.meta["prefix_tokens"] == "paper" for a in answers.values())
            assert None not in expected.values()


@pytest.mark.parametrize(("family", "mode"), [("blip2", "greedy"), ("instructblip", "prefix"), ("mllama", "prefix")])
def test_our_own_rules_differ_from_the_original(real, checkpoints, family: str, mode: str) -> None:
    """--prefix-tokens/--letter-tokens=context read other tokens: the differential test above can tell."""
    pairs, layout, prompts_file = real
    expected = harness_answers(family, checkpoints[family], pairs, layout, prompts_file, mode)
    context = Fidelity(prefix_tokens="context", letter_tokens="context")
    answers = suite_answers(family, checkpoints[family], pairs, layout, prompts_file, mode, context)[1]
    assert sum(expected[key] != answers[key].model_letter for key in expected) > 0
