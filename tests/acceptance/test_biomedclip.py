"""`mine-pairs --encoder biomedclip` for real: open_clip, timm and the published hub layout, offline.

open_clip needs torchvision, and the only torchvision on the package indexes this project reaches is built
against the CUDA torch (it cannot load beside our CPU wheel: `operator torchvision::nms does not exist`).
So this test runs mine-pairs in a second environment that has torch 2.14.1, torchvision 0.29.1 (CUDA builds,
which run on a CPU) and open_clip: `MEDICONFUSION_CLIP_PYTHON` names its interpreter; .ci/run builds it and
makes the test required (`MEDICONFUSION_REQUIRE_CLIP=1`), elsewhere it skips. The checkpoint is a tiny
BiomedCLIP in the published layout, placed in a Hugging Face cache (tests/biomedclip_tiny.py), so the
default `biomedclip` spec resolves exactly as it does against the hub.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from acceptance.test_mine_pairs import candidates, write_images

HERE = Path(__file__).resolve().parents[1]
GREY = """
import numpy as np


def reference(images):
    return np.array([np.asarray(i.convert("L").resize((8, 8)), dtype=np.float32).ravel() - 128 for i in images])
"""
#: open_clip alone, as its README loads BiomedCLIP: the cosine of each pair of image files given.
DIRECT = """
import json, sys
import numpy as np, open_clip, torch
from PIL import Image
name = "hf-hub:microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224"
model, _, preprocess = open_clip.create_model_and_transforms(name)
files = sys.argv[1:]
with torch.inference_mode():
    vectors = model.encode_image(torch.stack([preprocess(Image.open(p).convert("RGB")) for p in files])).numpy()
vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
print(json.dumps([float(vectors[i] @ vectors[i + 1]) for i in range(0, len(files), 2)]))
"""


@pytest.fixture
def clip_python() -> str:
    found = os.environ.get("MEDICONFUSION_CLIP_PYTHON")
    if not found:
        if os.environ.get("MEDICONFUSION_REQUIRE_CLIP"):
            pytest.fail("MEDICONFUSION_CLIP_PYTHON must name an interpreter with open_clip (see .ci/run)")
        pytest.skip("MEDICONFUSION_CLIP_PYTHON is not set: no environment with open_clip and torchvision")
    return found


def test_biomedclip_mines_from_the_published_layout_as_open_clip_encodes_it(clip_python: str, tmp_path: Path) -> None:
    hub = tmp_path / "hf"
    env = {**os.environ, "HF_HUB_CACHE": str(hub), "HF_HUB_OFFLINE": "1", "MEDICONFUSION_CACHE": str(tmp_path / "c")}
    subprocess.run([clip_python, str(HERE / "biomedclip_tiny.py"), str(hub)], check=True, env=env, timeout=300)
    captions = write_images(tmp_path, n=24)
    (tmp_path / "grey.py").write_text(GREY)
    command = [clip_python, "-m", "mediconfusion_tests.cli", "mine-pairs", str(captions), "-o", str(tmp_path / "out")]
    command += ["--encoder", "biomedclip", "--reference", "python:grey:reference", "--device", "cpu"]
    command += ["--min-encoder-sim", "-1", "--max-reference-sim", "1", "--per-image", "2"]
    done = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((tmp_path / "out" / "mining.json").read_text())
    encoder = summary["embedding"][0]
    assert encoder["fingerprint"].startswith(
        "open_clip:hf-hub:microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224:"
    )
    assert encoder["computed"] == 24
    rows = candidates(tmp_path / "out")
    assert len(rows) >= 12
    # Our encoder's cosine is open_clip's own, images preprocessed as open_clip does (candidates.csv: 4 decimals).
    files = [row[key] for row in rows[:4] for key in ("image_1", "image_2")]
    direct = subprocess.run(
        [clip_python, "-c", DIRECT, *files], env=env, capture_output=True, text=True, timeout=300, check=True
    )
    cosines = json.loads(direct.stdout.splitlines()[-1])
    assert len(cosines) == 4
    for row, cosine in zip(rows, cosines, strict=False):
        assert abs(cosine - float(row["encoder_similarity"])) < 1e-3, (row, cosine)
    # A rerun reads every BiomedCLIP vector from the cache.
    again = subprocess.run(
        [*command[:6], str(tmp_path / "again"), *command[7:]],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert again.returncode == 0, again.stderr[-3000:]
    assert json.loads((tmp_path / "again" / "mining.json").read_text())["embedding"][0]["reused"] == 24
