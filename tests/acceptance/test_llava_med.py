"""LLaVA-Med v1.5: the published layout loaded by our key map into transformers' LLaVA, through the suite."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest
from helpers import dtype_options
from llava_med_tiny import HIDDEN, VISION_PREFIX, build_llava_med

from mediconfusion_tests.errors import ModelError

if TYPE_CHECKING:
    from pathlib import Path

torch = pytest.importorskip("torch")

pytest.importorskip("transformers")

pytest.importorskip("safetensors")

SAMPLE = (
    "--dataset=sample",
    "-p",
    "no:cacheprovider",
    "--no-store",
    *dtype_options(),
)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_llava_med(tmp_path_factory.mktemp("llava-med") / "checkpoint")


def load(folder: Path, dtype: str = "fp32") -> Any:
    from mediconfusion_tests.config import RunConfig
    from mediconfusion_tests.models.base import ModelSpec
    from mediconfusion_tests.models.llava_med.adapter import make_llava_med

    spec = ModelSpec(raw=f"llava-med:{folder}", name="llava-med", argument=str(folder))
    return make_llava_med(spec, RunConfig(model=spec.raw, device="cpu", dtype=dtype))


def test_strict_loading_names_what_is_wrong(tmp_path: Path) -> None:
    cases = [
        (lambda t: t.pop("model.mm_projector.0.bias"), "no tensor for 'model.multi_modal_projector.linear_1.bias'"),
        (
            lambda t: t.__setitem__("model.extra_head.weight", torch.zeros(2)),
            "unexpected tensor 'model.extra_head.weight'",
        ),
        (
            lambda t: t.__setitem__("model.layers.9.mlp.up_proj.weight", torch.zeros(2)),
            "'model.layers.9.mlp.up_proj.weight' maps to 'model.language_model.layers.9.mlp.up_proj.weight', "
            "which the model does not have",
        ),
        (
            lambda t: t.__setitem__("model.norm.weight", torch.ones(HIDDEN + 1)),
            "'model.norm.weight' has shape (65,), the model expects (64,)",
        ),
    ]
    for index, (change, message) in enumerate(cases):
        folder = build_llava_med(tmp_path / f"bad{index}", change=change)
        with pytest.raises(ModelError, match=message.replace("(", r"\(").replace(")", r"\)")):
            load(folder)
    (tmp_path / "bad0" / "model-00002-of-00002.safetensors").unlink()
    with pytest.raises(ModelError, match="the index names shard"):
        load(tmp_path / "bad0")


def test_inputs_and_image_features_follow_the_authors_computation(checkpoint: Path) -> None:
    from PIL import Image
    from transformers import CLIPVisionConfig, CLIPVisionModel

    model = load(checkpoint)
    tokenizer = model.tokenizer
    text = model.render("Which is it?")
    assert text == "[INST] <image>\nWhich is it? [/INST]"
    ids = model.processor._ids(text)
    first, second = tokenizer("[INST] ").input_ids, tokenizer("\nWhich is it? [/INST]").input_ids
    assert ids == first + [0] * 16 + second[1:]  # one BOS; 16 patch tokens for 56 px / 14
    assert ids[0] == tokenizer.bos_token_id

    # A wide image is padded to a square with CLIP's mean colour, not cropped.
    image = Image.new("RGB", (80, 40), (255, 0, 0))
    pixels = model.processor(text=[text], images=[image])["pixel_values"]
    assert tuple(pixels.shape) == (1, 3, 56, 56)
    assert abs(float(pixels[0, 0, 0, 28])) < 0.05  # the top band is mean grey, ~0 after normalising

    # Image features: an independently keyed CLIP (the published vision_model.* names), layer -2, patches only,
    # then Linear-GELU-Linear with the projector's published tensors.
    from safetensors import safe_open

    tensors: dict[str, Any] = {}
    for file in sorted(checkpoint.glob("*.safetensors")):
        with safe_open(str(file), framework="pt") as handle:
            tensors |= {k: handle.get_tensor(k) for k in handle.keys()}  # noqa: SIM118
    clip = CLIPVisionModel(CLIPVisionConfig(**model.model.config.vision_config.to_dict())).eval()
    vision = {k.removeprefix(VISION_PREFIX): v for k, v in tensors.items() if k.startswith(VISION_PREFIX)}
    vision.pop("embeddings.position_ids")
    clip.load_state_dict(vision, strict=True)
    with torch.no_grad():
        hidden = clip(pixel_values=pixels, output_hidden_states=True).hidden_states[-2][:, 1:]
        step = torch.nn.functional.linear(
            hidden, tensors["model.mm_projector.0.weight"], tensors["model.mm_projector.0.bias"]
        )
        expected = torch.nn.functional.linear(
            torch.nn.functional.gelu(step), tensors["model.mm_projector.2.weight"], tensors["model.mm_projector.2.bias"]
        )
        features = model.model.get_image_features(pixel_values=pixels)
        features = features.pooler_output if hasattr(features, "pooler_output") else features
        got = torch.cat(list(features), dim=0) if isinstance(features, (list, tuple)) else features
    assert torch.allclose(got.reshape(expected.shape), expected, atol=1e-5)
    # --encoder-similarity's vector: those projected patch tokens, averaged (batched with a second image or not).
    vectors = model.image_features([image, Image.new("RGB", (40, 60), (0, 0, 255))])
    assert abs(vectors[0] - expected[0].mean(0).numpy()).max() < 1e-5
    assert abs(model.image_features([image])[0] - vectors[0]).max() < 1e-5


@pytest.mark.parametrize("mode", ["mc", "greedy", "prefix"])
def test_every_mode_through_the_suite_with_batch_invariance(
    pytester: pytest.Pytester, checkpoint: Path, mode: str
) -> None:
    decisions = []
    for batch in ("1", "8"):
        result = pytester.runpytest(
            f"--model=llava-med:{checkpoint}",
            f"--mode={mode}",
            f"--batch-size={batch}",
            f"--results-dir=b{batch}",
            *SAMPLE,
        )
        document = json.loads((pytester.path / f"b{batch}" / "latest" / "results.json").read_text())
        assert document["counts"]["pairs_scored"] == 16, result.stdout.str()
        instance = next(iter(document["model"]["instances"].values()))
        assert instance["class"] == "LlavaForConditionalGeneration"
        assert instance["family"] == "llava-med"
        decisions.append([[a["decision"] for a in p["answers"]] for p in document["pairs"]])
        if mode != "mc":
            scores = [a["scores"] for p in document["pairs"] for a in p["answers"]]
            assert all(set(s) == {"A", "B"} for s in scores)
    assert decisions[0] == decisions[1]


def test_freeform_with_a_judge(pytester: pytest.Pytester, checkpoint: Path) -> None:
    result = pytester.runpytest(
        f"--model=llava-med:{checkpoint}", "--mode=freeform", "--judge=always-a", "--max-new-tokens=4", *SAMPLE
    )
    document = json.loads((pytester.path / "reports" / "latest" / "results.json").read_text())
    assert document["counts"]["pairs_scored"] == 16, result.stdout.str()
    assert all(a["raw"] for p in document["pairs"] for a in p["answers"])  # free text, graded by the judge
