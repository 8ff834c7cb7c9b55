"""Every local family, every mode, on tiny random-weight checkpoints loaded through from_pretrained.

Decisions (and scores to 1e-4 relative) must not depend on the batch size.
"""

from __future__ import annotations

import math

import pytest

transformers = pytest.importorskip("transformers")

from typing import TYPE_CHECKING, Any  # noqa: E402

from scripted_models import KeywordJudge  # noqa: E402
from tiny_models import BUILDERS, build_tiny  # noqa: E402

from mediconfusion_tests.data.files import read_pairs  # noqa: E402
from mediconfusion_tests.data.images import LOCAL, ImageLayout  # noqa: E402
from mediconfusion_tests.models.families import BY_NAME  # noqa: E402
from mediconfusion_tests.models.hf import Generation, HFModel  # noqa: E402
from mediconfusion_tests.models.hf_loading import ExpandingProcessor, LoadSettings  # noqa: E402
from mediconfusion_tests.prompts import BUILTIN, load_paper_prompts  # noqa: E402
from mediconfusion_tests.run.engine import Engine  # noqa: E402

if TYPE_CHECKING:
    from pathlib import Path

FAMILIES = sorted(BUILDERS)
MODES = ("mc", "greedy", "prefix", "freeform")


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, HFModel]:
    loaded: dict[str, HFModel] = {}

    def get(family: str) -> HFModel:
        if family not in loaded:
            folder = build_tiny(family, tmp_path_factory.mktemp("tiny") / family)
            loaded[family] = HFModel(LoadSettings(str(folder)), name=family, generation=Generation(max_new_tokens=8))
        return loaded[family]

    return get  # type: ignore[return-value]


@pytest.fixture
def sample(sample_dir: Path) -> tuple[list, ImageLayout]:
    return read_pairs(sample_dir / "dataset.json"), ImageLayout(LOCAL, str(sample_dir / "images"))


def run(model: HFModel, mode: str, sample: tuple, batch: int, pairs: int = 16, **kwargs: Any) -> list:
    chosen = sample[0][:pairs]
    engine = Engine(
        model, mode, BUILTIN, sample[1], None, batch_size=batch, schedule=chosen, chunk_of=lambda _: 0, **kwargs
    )
    return [engine.run_pair(pair) for pair in chosen]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("family", FAMILIES)
def test_each_family_answers_each_mode(tiny_models, sample, family: str, mode: str) -> None:
    judge = KeywordJudge() if mode == "freeform" else None
    outcomes = run(tiny_models(family), mode, sample, batch=8, judge=judge)
    assert [o.error for o in outcomes] == [None] * 16
    answers = [a for o in outcomes for a in o.answers]
    assert len(answers) == 32
    if mode in ("greedy", "prefix"):
        assert all(a.model_letter in ("A", "B") and a.decision == a.model_letter for a in answers)
        assert all(set(a.scores) == {"A", "B"} and all(math.isfinite(v) for v in a.scores.values()) for a in answers)
    if mode == "greedy":
        assert all(abs(sum(a.scores.values()) - 1) < 1e-6 for a in answers)
    if mode == "prefix":
        assert all(v <= 0 for a in answers for v in a.scores.values())  # mean log-probabilities
    if mode in ("mc", "freeform"):
        assert all(isinstance(a.raw, str) for a in answers)
    if mode == "freeform":
        assert all(a.meta["judge"].startswith("A: ") and set(a.scores) == {"A", "B"} for a in answers)


def fingerprint(outcomes: list) -> list:
    return [(a.raw, a.decision, a.scores) for o in outcomes for a in o.answers]


def same_scores(left: dict, right: dict) -> bool:
    return left.keys() == right.keys() and all(math.isclose(left[k], right[k], rel_tol=1e-4) for k in left)


@pytest.mark.parametrize("family", FAMILIES)
def test_decisions_do_not_depend_on_batch_size(tiny_models, sample, family: str) -> None:
    model = tiny_models(family)
    for mode in ("greedy", "prefix", "mc"):
        runs = {batch: fingerprint(run(model, mode, sample, batch, pairs=6)) for batch in (1, 2, 8)}
        for batch in (2, 8):
            for (raw1, letter1, scores1), (raw, letter, scores) in zip(runs[1], runs[batch], strict=True):
                assert (raw, letter) == (raw1, letter1), (family, mode, batch)
                assert same_scores(scores, scores1), (family, mode, batch)


@pytest.mark.parametrize("family", ["llava", "gemma3", "paligemma", "qwen2-vl"])
def test_answer_letter_tokens_read_as_letters(tiny_models, family: str) -> None:
    """Byte-level BPE (llava, qwen) and SentencePiece-style Metaspace (gemma3, paligemma) alike."""
    model = tiny_models(family)
    text = model.render("Question: which side? A: left B: right")
    ids = model.letter_ids(text)
    for letter in ("A", "B"):
        assert ids[letter]
        assert all(model.tokenizer.decode([i]).strip() == letter for i in ids[letter])
    assert not set(ids["A"]) & set(ids["B"])


def test_qwen_without_torchvision_expands_image_tokens_itself(tiny_models) -> None:
    model = tiny_models("qwen2-vl")
    try:
        import torchvision  # noqa: F401
    except ImportError:
        assert isinstance(model.processor, ExpandingProcessor)
    else:
        pytest.skip("torchvision is installed: the official processor is used")


def test_instructblip_side_inputs_are_right_padded(tiny_models, sample) -> None:
    """The tiny checkpoint ships a left-padding Q-Former tokenizer; positions must not shift."""
    model = tiny_models("instructblip")
    features = [
        model._encode(model.render(p.question), model._image(str(sample[1].path(p.images[0])))) for p in sample[0][:3]
    ]
    batch = model._batch(features)
    pad = model.processor.qformer_tokenizer.pad_token_id
    for row in batch["qformer_input_ids"]:
        ids = row.tolist()
        assert ids[0] != pad  # never padding in front
    assert (batch["input_ids"][:, -1] != model.tokenizer.pad_token_id).all()  # left padding for the LM


def test_paper_prompt_file_is_used_verbatim(tiny_models, sample, shared_dir: Path) -> None:
    model = tiny_models("blip2")
    prompts = load_paper_prompts(shared_dir / "paper_prompts.json", model.prompt_key)
    engine = Engine(model, "mc", prompts, sample[1], None, batch_size=2)
    pair = sample[0][0]
    query = engine.queries(pair)[0]
    assert query.prompt.startswith(
        "Question: Based on the image, choose the correct option for the following question."
    )
    assert query.verbatim
    assert model.render(query.prompt, verbatim=True) == query.prompt  # no second "Question: ... Answer:" around it
    outcome = engine.run_pair(pair)
    assert outcome.error is None
    assert outcome.prompts[0] == query.prompt


def test_judge_that_is_a_real_model_records_its_reply(tiny_models, sample) -> None:
    """A tiny random judge cannot be parsed, so decisions are invalid, but its text is kept."""
    outcomes = run(tiny_models("llava"), "freeform", sample, batch=4, pairs=2, judge=tiny_models("qwen2-vl"))
    answers = [a for o in outcomes for a in o.answers]
    assert all(isinstance(a.meta.get("judge"), str) for a in answers)
    assert all(a.meta["judge_prompt"].startswith("You compare an AI assistant's answer") for a in answers)


# PaliGemma is left out on purpose: its prompt is read bidirectionally, so the whole-sequence
# score lets the prompt see the option, which the shared cache (rightly) does not.
SHARING = [f for f in FAMILIES if BY_NAME[f].shares_prompt_cache and f != "paligemma"]


@pytest.mark.parametrize("family", SHARING)
def test_shared_prompt_cache_scores_equal_whole_sequences(tiny_models, sample, family: str) -> None:
    """Where prefix mode computes the prompt once for both options, it must give the same scores."""
    import torch

    from mediconfusion_tests.models.base import Query

    model = tiny_models(family)
    pairs, layout = sample
    queries = [
        Query(p.id, i, str(layout.path(image)), "", p.question, p.options, "prefix", BUILTIN.render("prefix", p))
        for p in pairs[:4]
        for i, image in enumerate(p.images, start=1)
    ]
    with torch.inference_mode():
        groups = [model.option_sequences(q) for q in queries]
        whole = model.mean_logprobs([item for group in groups for item in group])
        shared = model.shared_prefix_logprobs(groups)
    assert shared == pytest.approx(whole, rel=1e-5)


@pytest.mark.parametrize("family", FAMILIES)
def test_each_family_reads_its_own_vision_features(tiny_models, sample_dir: Path, family: str) -> None:
    import numpy as np
    from PIL import Image

    model = tiny_models(family)
    assert model.image_feature_pooling() is not None
    images = [Image.open(sample_dir / "images" / f"{n}.jpg").convert("RGB") for n in (90001, 90007)]
    features = model.image_features([images[0], images[1], images[0]])
    assert features.shape[0] == 3
    assert features.dtype == np.float32
    assert np.isfinite(features).all()
    assert np.allclose(features[0], features[2], atol=1e-6)  # one image at a time: its place changes nothing
    # Tiny InstructBLIP's one Q-Former layer barely reads the image (differences near 1e-8): exact inequality.
    assert not np.array_equal(features[0], features[1])
