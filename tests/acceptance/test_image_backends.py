"""--image-backend where torchvision is installed, as on most GPU hosts.

The main environment of a CPU-only machine cannot import torchvision beside its CPU torch, so these tests run
two helper scripts under a Python that can: MEDICONFUSION_TORCHVISION_PYTHON, else the vLLM environment's
(``. scripts/vllm-env.sh`` builds it, with torchvision). Without one they skip, unless
MEDICONFUSION_REQUIRE_VLLM is set (``.ci/run`` sets it): then they fail, so CI cannot pass by skipping them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mediconfusion_tests.models.image_backends import TORCHVISION_IDENTICAL
from mediconfusion_tests.models.paper_rules import RULES

TESTS = Path(__file__).resolve().parents[1]
PYTHON = os.environ.get("MEDICONFUSION_TORCHVISION_PYTHON") or os.environ.get("MEDICONFUSION_VLLM_PYTHON") or ""
#: Families the original harness ran whose pixels come from a transformers image processor (LLaVA-Med and
#: Med-Flamingo build CLIP's PIL processor themselves; RadFM resizes its own way).
PAPER_FAMILIES = ("llava", "llava-next", "blip2", "instructblip", "mllama")


@pytest.fixture(scope="module")
def torchvision_python() -> str:
    from vllm_server import import_problem

    statement = "import torch, torchvision, transformers; torch.ops.torchvision.nms"
    problem = (
        import_problem(PYTHON, statement, "torchvision")
        if PYTHON
        else "no Python with torchvision (MEDICONFUSION_TORCHVISION_PYTHON or MEDICONFUSION_VLLM_PYTHON)"
    )
    if problem:
        message = f"{problem}; `. scripts/vllm-env.sh` builds an environment with torchvision"
        if os.environ.get("MEDICONFUSION_REQUIRE_VLLM"):
            pytest.fail(message)
        pytest.skip(message)
    return PYTHON


def _images(folder: Path, count: int) -> list[str]:
    from helpers import small_placeholder_images

    from mediconfusion_tests.data.schema import ImageRef, Pair

    refs = (ImageRef("a.jpg", 1), ImageRef("b.jpg", 2))
    small_placeholder_images(folder, [Pair("p", refs, (("x",), ("x",)), "q", ("yes", "no"), ("A", "B"))])
    return sorted(str(path) for path in folder.glob("*.jpg"))[:count]


def _json(command: list[str]) -> Any:
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_table_of_identical_families_is_what_the_libraries_do(torchvision_python: str) -> None:
    """Every family measured: byte-identical inputs from both backends exactly where the product allows
    torchvision under the original's readings, and every family the original ran is measured."""
    sys.path.insert(0, str(TESTS))
    from image_backend_probe import CHECKPOINTS

    assert set(PAPER_FAMILIES) <= set(CHECKPOINTS)
    assert set(PAPER_FAMILIES) == {family for family in RULES if family not in ("llava-med", "med-flamingo", "radfm")}
    probe = [torchvision_python, str(TESTS / "image_backend_probe.py"), "--json", "--images", "6", "--repeat", "1"]
    rows = _json(probe)["families"]
    assert {row["family"] for row in rows} == set(CHECKPOINTS)
    identical = {row["family"] for row in rows if row["identical"]}
    assert identical == TORCHVISION_IDENTICAL & set(CHECKPOINTS), rows
    for row in rows:
        if not row["identical"] and row["same_shapes"]:
            assert row["max_abs_pixel_difference"] > 0, row


@pytest.mark.parametrize("family", PAPER_FAMILIES)
def test_on_a_host_with_torchvision_the_original_families_keep_the_pil_pixels(
    family: str, torchvision_python: str, tmp_path: Path
) -> None:
    """auto under the original's readings: the PIL processor, pixels byte-identical to the main environment's
    (which has no torchvision); forced torchvision: other pixels, and another answer-store key."""
    from tiny_models import build_tiny

    checkpoint = build_tiny(family, tmp_path / family)
    images = _images(tmp_path / "images", 2)
    side = [str(TESTS / "torchvision_side.py"), str(checkpoint), *images]
    here = _json([sys.executable, *side, "--setting", "auto:paper"])[0]
    there = {
        row["setting"]: row
        for row in _json([torchvision_python, *side, "--setting", "auto:paper", "--setting", "torchvision:paper"])
    }
    assert here["backend"] == there["auto:paper"]["backend"] == "pil"
    assert "original harness" in there["auto:paper"]["reason"]
    assert there["auto:paper"]["pixels"] == here["pixels"]
    forced = there["torchvision:paper"]
    assert (forced["backend"], forced["fidelity"]) == ("torchvision", "torchvision")
    assert forced["pixels"] != here["pixels"]
    assert forced["settings"] != there["auto:paper"]["settings"]  # so the answer store keeps them apart


def test_on_a_host_with_torchvision_other_families_get_transformers_choice(
    torchvision_python: str, tmp_path: Path
) -> None:
    from tiny_models import build_tiny

    checkpoint = build_tiny("gemma3", tmp_path / "gemma3")
    images = _images(tmp_path / "images", 1)
    side = [str(TESTS / "torchvision_side.py"), str(checkpoint), *images]
    rows = _json([torchvision_python, *side, "--setting", "auto:paper", "--setting", "pil:paper"])
    assert [row["backend"] for row in rows] == ["torchvision", "pil"]
    assert rows[0]["reason"] == "transformers' default: torchvision, installed"
    assert rows[0]["pixels"] != rows[1]["pixels"]
