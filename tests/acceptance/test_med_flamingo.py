"""Med-Flamingo: OpenFlamingo's layout in our code, the published model.pt loaded strictly, through the suite."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest
from helpers import dtype_options
from med_flamingo_tiny import build_med_flamingo

from mediconfusion_tests.errors import ModelError

if TYPE_CHECKING:
    from pathlib import Path

torch = pytest.importorskip("torch")

pytest.importorskip("transformers")

SAMPLE = (
    "--dataset=sample",
    "-p",
    "no:cacheprovider",
    "--no-store",
    *dtype_options(),
)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return build_med_flamingo(tmp_path_factory.mktemp("med-flamingo"))


def load(checkpoint: Path, llama: Path, **settings: Any) -> Any:
    from mediconfusion_tests.config import RunConfig
    from mediconfusion_tests.models.base import ModelSpec
    from mediconfusion_tests.models.med_flamingo.adapter import make_med_flamingo

    spec = ModelSpec(raw=f"med-flamingo:{checkpoint}", name="med-flamingo", argument=str(checkpoint))
    values: dict[str, Any] = {"llama_path": str(llama), **settings}
    return make_med_flamingo(spec, RunConfig(model=spec.raw, device="cpu", **values))


def test_loading_is_strict_and_reports_the_keys(tmp_path: Path, tiny: tuple[Path, Path]) -> None:
    model = load(*tiny)
    facts = model.describe()["loaded"]
    assert "lang_encoder.gated_cross_attn_layers.N.attn" in facts["key_groups"]
    assert "perceiver.layers.N.N" in facts["key_groups"]
    assert facts["lm_head_from_checkpoint"] is False
    added = model.tokenizer.convert_tokens_to_ids(["<|endofchunk|>", "<image>", "<PAD>"])
    assert added == [len(model.tokenizer) - 3, len(model.tokenizer) - 2, len(model.tokenizer) - 1]

    def drop_block(state: dict) -> None:
        for key in [k for k in state if ".7." in k and "attn.to_q" in k]:
            del state[key]

    def differ(state: dict) -> None:
        state["lang_encoder.gated_cross_attn_layers.3.attn_gate"] = torch.tensor([0.1])

    def short_embedding(state: dict) -> None:
        state["lang_encoder.model.embed_tokens.weight"] = state["lang_encoder.model.embed_tokens.weight"][:-1]

    cases = [
        (lambda s: s.__setitem__("vision_encoder.proj", torch.zeros(2)), "unknown tensor 'vision_encoder.proj'"),
        (drop_block, "no tensor for 'lang_encoder.model.layers.7.block.attn.to_q.weight'"),
        (differ, "name one tensor but differ"),
        (short_embedding, "the tokenizer with OpenFlamingo's tokens has"),
        (
            lambda s: s.__setitem__("lang_encoder.gated_cross_attn_layers.5.attn_gate", torch.zeros(1)),
            "has no place in the model ('lang_encoder.model.layers.5.block.attn_gate')",
        ),
    ]
    for index, (change, message) in enumerate(cases):
        checkpoint, llama = build_med_flamingo(tmp_path / f"bad{index}", change=change)
        with pytest.raises(ModelError) as caught:
            load(checkpoint, llama)
        assert message in str(caught.value)
    with pytest.raises(ModelError, match="--llama-path=DIR"):
        load(tiny[0], tiny[1], llama_path=None)


def test_cross_attention_reads_only_the_images_before_each_token(tiny: tuple[Path, Path]) -> None:
    from PIL import Image

    model = load(*tiny)
    network = model.model
    text = model.render("What is shown?")
    dark, light = Image.new("RGB", (40, 40), (10, 10, 10)), Image.new("RGB", (40, 40), (240, 200, 90))
    first = model.processor(text=[text], images=[dark])
    second = model.processor(text=[text], images=[light])
    with torch.no_grad():
        a = network(**first).logits[0]
        b = network(**second).logits[0]
    image_at = int((first["input_ids"][0] == network.media_token_id).nonzero()[0])
    assert torch.allclose(a[:image_at], b[:image_at], atol=1e-6)  # text before the image cannot see it
    assert not torch.allclose(a[image_at:], b[image_at:], atol=1e-4)  # after it, it does

    # With both gates closed (tanh(0) = 0) the blocks add nothing: the plain LLaMA's logits.
    with torch.no_grad():
        for layer in network.conditioned:
            layer.block.attn_gate.zero_()
            layer.block.ff_gate.zero_()
        closed = network(**first).logits[0]
        plain = network.lang_encoder(input_ids=first["input_ids"], attention_mask=first["attention_mask"]).logits[0]
    assert torch.allclose(closed, plain, atol=1e-5)


def test_vision_features_are_the_perceiver_latents_the_llama_attends_to(tiny: tuple[Path, Path]) -> None:
    from PIL import Image

    model = load(*tiny)
    assert model.image_feature_pooling() is not None
    dark, light = Image.new("RGB", (40, 40), (10, 10, 10)), Image.new("RGB", (40, 40), (240, 200, 90))
    features = model.image_features([dark, light, dark])
    text = model.render("What is shown?")
    pixels = model.processor(text=[text], images=[light])["pixel_values"]
    with torch.no_grad():
        latents = model.model.media(pixels)
    assert abs(features[1] - latents.reshape(-1, latents.shape[-1]).mean(0).numpy()).max() < 1e-5
    assert (features[0] == features[2]).all()
    assert abs(features[0] - features[1]).max() > 1e-4


def test_generation_with_a_cache_equals_recomputing_the_whole_sequence(tiny: tuple[Path, Path]) -> None:
    """generate() feeds one new token per step through a key/value cache; a loop that runs the whole sequence
    through forward() each step must pick the same tokens, with left padding in the batch."""
    from PIL import Image

    model = load(*tiny)
    network = model.model
    texts = [model.render("What is shown?"), model.render("Which side of the chest is larger here?")]
    images = [Image.new("RGB", (40, 40), (10, 10, 10)), Image.new("RGB", (40, 40), (240, 200, 90))]
    rows = [model.processor(text=[t], images=[i]) for t, i in zip(texts, images, strict=True)]
    width = max(r["input_ids"].shape[1] for r in rows)
    ids = torch.stack([torch.nn.functional.pad(r["input_ids"][0], (width - r["input_ids"].shape[1], 0)) for r in rows])
    mask = torch.stack(
        [torch.nn.functional.pad(r["attention_mask"][0], (width - r["input_ids"].shape[1], 0)) for r in rows]
    )
    pixels = torch.cat([r["pixel_values"] for r in rows])
    network.endofchunk_id = None  # run all steps: random weights may end early
    network.config.eos_token_id = None
    cached = network.generate(ids, mask, pixel_values=pixels, max_new_tokens=12)
    whole, whole_mask = ids, mask
    with torch.no_grad():
        for _ in range(12):
            token = network(whole, whole_mask, pixel_values=pixels).logits[:, -1, :].float().argmax(dim=-1)
            whole = torch.cat([whole, token[:, None]], dim=-1)
            whole_mask = torch.cat([whole_mask, torch.ones_like(token)[:, None]], dim=-1)
    assert cached.shape == (2, width + 12)
    assert torch.equal(cached, whole)


def test_prompts_follow_the_harness_with_and_without_few_shot_images(tmp_path: Path, tiny: tuple[Path, Path]) -> None:
    from PIL import Image

    from mediconfusion_tests.models.med_flamingo.adapter import FEW_SHOT, frame

    paper = (
        "You are a helpful medical assistant. x <image>Question: **Q1**<|endofchunk|>"
        "<image>Question: **Q2**|endofchunk|><image>Question: **Q3**<|endofchunk|>"
        "<image>Question: Which?\nA: a\nB: b\nAnswer:"
    )
    zero = frame(paper, "mc", few_shot=False)
    assert zero == "You are a helpful medical assistant. x <image>Question: Which?\nA: a\nB: b\nAnswer:"
    few = frame(paper, "mc", few_shot=True)
    assert few.count("<image>") == 4
    shown = "What did the CT scan show?\nA: Cerebral edema\nB: Intracranial hemorrhage\nAnswer: A: Cerebral edema"
    assert shown in few
    # The harness's process_prompt(question, use_option=(mode in ["mc", "greedy"])): options in greedy too.
    assert shown in frame(paper, "greedy", few_shot=True)
    assert "What did the CT scan show? Answer: Cerebral edema" in frame(paper, "prefix", few_shot=True)
    folder = tmp_path / "few-shot"
    folder.mkdir()
    for index, (name, *_) in enumerate(FEW_SHOT):
        Image.new("RGB", (30, 30), (60 * index, 20, 20)).save(folder / name)
    model = load(*tiny, few_shot_dir=str(folder))
    assert model.describe()["warnings"] == []
    inputs = model.processor(text=[model.render("Which?")], images=[Image.new("RGB", (30, 30))])
    assert tuple(inputs["pixel_values"].shape[:2]) == (1, 4)
    (folder / "PMC1087855_F3.jpg").unlink()
    with pytest.raises(ModelError, match=r"missing PMC1087855_F3\.jpg"):
        load(*tiny, few_shot_dir=str(folder))


@pytest.mark.parametrize("mode", ["mc", "greedy", "prefix"])
def test_every_mode_through_the_suite_with_batch_invariance(
    pytester: pytest.Pytester, tiny: tuple[Path, Path], mode: str
) -> None:
    checkpoint, llama = tiny
    decisions = []
    for batch in ("1", "8"):
        result = pytester.runpytest(
            f"--model=med-flamingo:{checkpoint}", f"--llama-path={llama}", f"--mode={mode}", f"--batch-size={batch}",
            f"--results-dir=b{batch}", "--max-new-tokens=4", *SAMPLE,
        )  # fmt: skip
        document = json.loads((pytester.path / f"b{batch}" / "latest" / "results.json").read_text())
        assert document["counts"]["pairs_scored"] == 16, result.stdout.str()
        assert any("ran zero-shot" in w for w in document["warnings"])
        decisions.append([[a["decision"] for a in p["answers"]] for p in document["pairs"]])
        if mode != "mc":
            assert all(set(a["scores"]) == {"A", "B"} for p in document["pairs"] for a in p["answers"])
    assert decisions[0] == decisions[1]


def test_a_whole_openflamingo_save_with_the_llamas_own_layers_loads(tmp_path: Path) -> None:
    """model.pt saved whole from OpenFlamingo carries the frozen LLaMA layers as old_decoder_blocks.N: they
    load into those layers (as the authors' strict=False did), and how many differ from --llama-path is said."""
    from safetensors.torch import load_file

    plain = build_med_flamingo(tmp_path / "plain")
    layers = {k: v for k, v in load_file(str(plain[1] / "model.safetensors")).items() if k.startswith("model.layers.")}

    def whole(state: dict) -> None:
        for key, tensor in layers.items():
            state[key.replace("model.layers.", "lang_encoder.old_decoder_blocks.", 1)] = tensor.clone()

    checkpoint, llama = build_med_flamingo(tmp_path / "whole", change=whole)
    facts = load(checkpoint, llama).describe()["loaded"]
    assert (facts["llama_copies"], facts["llama_copies_differing"]) == (len(layers), 0)

    def changed(state: dict) -> None:
        whole(state)
        state["lang_encoder.old_decoder_blocks.0.mlp.up_proj.weight"] += 1.0

    checkpoint, llama = build_med_flamingo(tmp_path / "changed", change=changed)
    model = load(checkpoint, llama)
    assert model.describe()["loaded"]["llama_copies_differing"] == 1
    saved = torch.load(checkpoint / "model.pt", weights_only=True)[
        "lang_encoder.old_decoder_blocks.0.mlp.up_proj.weight"
    ]
    assert torch.equal(model.model.lang_encoder.model.layers[0].mlp.up_proj.weight, saved)  # the checkpoint's wins


def test_the_added_tokens_output_rows_are_drawn_as_the_authors_resize_drew_them(tiny: tuple[Path, Path]) -> None:
    """No lm_head in model.pt: the rows of <|endofchunk|>, <image> and <PAD> stay as transformers' resize
    initialised them, normal(0, initializer_range); drawn here from --seed, so a run is repeatable."""
    first, again, other = load(*tiny, seed=0), load(*tiny, seed=0), load(*tiny, seed=1)

    def rows(model: Any) -> Any:
        return model.model.lang_encoder.get_output_embeddings().weight[-3:].detach()

    assert torch.equal(rows(first), rows(again))
    assert not torch.equal(rows(first), rows(other))
    assert rows(first).abs().max() > 0
    assert 0.002 < float(rows(first).std()) < 0.1  # initializer_range 0.02
