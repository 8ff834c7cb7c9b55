"""``--model=med-flamingo`` / ``med-flamingo:PATH``: Med-Flamingo through the suite's transformers adapter.

Prompts are OpenFlamingo's interleaved text: ``<image>`` where an image goes, ``<|endofchunk|>`` after each
example. The paper's prompt file already has that shape (with ``**Q1**``..``**Q3**`` for the few-shot
examples); our built-in prompts are put in the same frame. The three few-shot examples are the original
harness's (its images come with ``--few-shot-dir``): a question, and in ``mc`` and ``greedy`` its two options and
answer; without the images the examples are left out (zero-shot) and the run says so.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mediconfusion_tests.errors import ModelError
from mediconfusion_tests.models.families import Family
from mediconfusion_tests.models.hf import HFModel
from mediconfusion_tests.models.hf_factories import fidelity, generation, load_settings
from mediconfusion_tests.models.hf_loading import (
    load_sentencepiece_tokenizer,
    require_transformers,
    resolve_device,
    resolve_dtype,
    token_id,
)
from mediconfusion_tests.models.hub_names import MED_FLAMINGO_LLAMA, MED_FLAMINGO_REPO

if TYPE_CHECKING:
    from collections.abc import Sequence

    import torch
    from PIL import Image
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    from mediconfusion_tests.config import RunConfig
    from mediconfusion_tests.models.base import Answer, Model, ModelSpec, Query

HUB_REPO = MED_FLAMINGO_REPO
FAMILY = Family("med-flamingo", (), prompt_style="plain", prompt_key="med_flamingo")
PREAMBLE = (
    "You are a helpful medical assistant. You are being provided with images, a two choice question about each "
    "image and an answer. Follow the examples and answer the last question. "
)
#: The original harness's few-shot examples: image file, question, options, the right option's index.
FEW_SHOT: tuple[tuple[str, str, tuple[str, str], int], ...] = (
    (
        "PMC1064097_F2.jpg",
        "What radiological technique was used to confirm the diagnosis?",
        ("CT Scan", "Mammography"),
        1,
    ),
    ("PMC1065025_F1.jpg", "What did the CT scan show?", ("Cerebral edema", "Intracranial hemorrhage"), 0),
    (
        "PMC1087855_F3.jpg",
        "What is the purpose of the asterisk shown in the figure?",
        (
            "To indicate the formation of lobes around the contracting nucleus.",
            "To indicate the normal lentoid shape of hypocotyl nuclei.",
        ),
        1,
    ),
)
_EXAMPLE = re.compile(r"<image>Question: \*\*Q\d\*\*<?\|endofchunk\|>")
ZERO_SHOT_WARNING = (
    "med-flamingo ran zero-shot: the paper prompted it with three example images (--few-shot-dir with "
    + ", ".join(name for name, *_ in FEW_SHOT)
    + ")"
)


def example(index: int, with_options: bool) -> str:
    _, question, options, right = FEW_SHOT[index]
    if with_options:
        return f"{question}\nA: {options[0]}\nB: {options[1]}\nAnswer: {'AB'[right]}: {options[right]}"
    return f"{question} Answer: {options[right]}"


def frame(prompt: str, mode: str, few_shot: bool) -> str:
    """The interleaved prompt: the paper's as it is, ours in the same frame; examples filled in or left out."""
    text = (
        prompt
        if "<image>" in prompt
        else (
            PREAMBLE
            + "".join(f"<image>Question: **Q{k}**<|endofchunk|>" for k in (1, 2, 3))
            + f"<image>Question: {prompt}\nAnswer:"
        )
    )
    if not few_shot:
        return _EXAMPLE.sub("", text)
    for index in range(len(FEW_SHOT)):
        # The harness: process_prompt(question, use_option=(mode in ["mc", "greedy"])).
        text = text.replace(f"**Q{index + 1}**", example(index, with_options=mode in ("mc", "greedy")))
    return text


class MedFlamingoProcessor:
    def __init__(self, tokenizer: PreTrainedTokenizerBase, image_size: int, few_shot: Sequence[Path]) -> None:
        import transformers

        from mediconfusion_tests.models.llava_med.loading import CLIP_MEAN, CLIP_STD

        processor_class = getattr(transformers, "CLIPImageProcessorPil", None) or transformers.CLIPImageProcessor
        self.tokenizer = tokenizer
        self.few_shot = list(few_shot)
        self.image_processor = processor_class(
            size={"shortest_edge": image_size},
            crop_size={"height": image_size, "width": image_size},
            image_mean=list(CLIP_MEAN),
            image_std=list(CLIP_STD),
            resample=3,
        )

    def __call__(
        self, text: list[str], images: list[Image.Image] | None = None, return_tensors: str = "pt"
    ) -> dict[str, torch.Tensor]:
        from PIL import Image

        encoded = dict(self.tokenizer([text[0]], return_tensors=return_tensors))
        if not images:
            return encoded
        wanted = text[0].count("<image>") - len(images)
        if wanted > len(self.few_shot):
            raise ModelError(f"med-flamingo: the prompt has {wanted} example image(s) but --few-shot-dir gave none")
        examples = []
        for path in self.few_shot[:wanted]:
            with Image.open(path) as image:
                examples.append(image.convert("RGB"))
        pixels = self.image_processor(images=[*examples, *images], return_tensors=return_tensors)["pixel_values"]
        return {**encoded, "pixel_values": pixels.unsqueeze(0)}

    def batch_decode(self, *args: Any, **kwargs: Any) -> Any:
        return self.tokenizer.batch_decode(*args, **kwargs)


class MedFlamingoModel(HFModel):
    few_shot = False
    facts: dict[str, Any] = {}  # noqa: RUF012 - replaced per instance
    _mode = "mc"

    def answer(self, queries: Sequence[Query]) -> list[Answer]:
        if queries:
            self._mode = queries[0].mode
        return super().answer(queries)

    def render(self, prompt: str, with_image: bool = True, verbatim: bool = False) -> str:
        text = frame(prompt, self._mode, self.few_shot)
        return text if with_image else text.replace("<image>", "")

    def image_feature_pooling(self) -> str | None:
        return "the perceiver's latents the language model cross-attends to, mean over latents"

    def image_tokens(self, image: Image.Image) -> Any:
        return self.image_token_groups([image])[0]

    def image_token_groups(self, images: Sequence[Image.Image]) -> list[Any]:
        """Each image as its own example of one image: (n, 1, 3, h, w) -> n groups of latents."""
        pixels = self.processor.image_processor(images=list(images), return_tensors="pt")["pixel_values"]
        return list(self.model.media(pixels.unsqueeze(1).to(self.device, dtype=self.model.dtype)))

    def describe(self) -> dict[str, Any]:
        described = super().describe()
        warnings = [*described["warnings"], *([] if self.few_shot else [ZERO_SHOT_WARNING])]
        return {**described, "loaded": self.facts, "few_shot": self.few_shot, "warnings": warnings}


def few_shot_images(folder: str | None) -> list[Path]:
    if not folder:
        return []
    paths = [Path(folder) / name for name, *_ in FEW_SHOT]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise ModelError(f"--few-shot-dir {folder}: missing {', '.join(missing)} (the original harness's examples)")
    return paths


def checkpoint_folder(argument: str | None) -> Path:
    if argument:
        folder = Path(argument).expanduser()
        if not (folder / "model.pt").is_file():
            raise ModelError(f"med-flamingo:{argument}: no model.pt there (the published Med-Flamingo checkpoint)")
        return folder
    from huggingface_hub import hf_hub_download

    from mediconfusion_tests.hub_access import download_hint, offline_reason

    offline = offline_reason()
    try:
        return Path(hf_hub_download(HUB_REPO, "model.pt", local_files_only=bool(offline))).parent
    except Exception as exc:  # noqa: BLE001 - hub errors come in many classes; each is said once, with the fix
        hint = f"; fetch it where the hub is reachable: {download_hint(HUB_REPO, 'model.pt')}" if offline else ""
        raise ModelError(f"cannot get {HUB_REPO} model.pt ({offline or exc}){hint}") from None


def added_rows(language: PreTrainedModel, rows: int, seed: int) -> None:
    """The output rows of the tokens OpenFlamingo adds (``<|endofchunk|>``, ``<image>``, ``<PAD>``) as the
    authors' stack left them: its ``resize_token_embeddings`` (transformers 4.x) drew them from LLaMA's
    ``_init_weights``, normal(0, initializer_range), and the published model.pt restores no ``lm_head`` (only
    trainable parameters were saved), so they stayed random at inference. Their draw was unseeded and cannot be
    repeated; ours is the same distribution from ``--seed``. A checkpoint that holds ``lm_head`` overwrites them."""
    import torch

    weight = language.get_output_embeddings().weight
    std = float(getattr(language.config, "initializer_range", 0.02))
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        drawn = torch.normal(0.0, std, size=tuple(weight[rows:].shape), generator=generator)
        weight[rows:] = drawn.to(weight.dtype)


def load_tokenizer(llama_path: str) -> PreTrainedTokenizerBase:
    """LLaMA's tokenizer as open_flamingo set it up under transformers 4.x: ``<|endofchunk|>`` and
    ``<image>`` added, ``<PAD>`` as the pad token, and its legacy spacing, which marks the text after a
    special token with "▁" ("<image>" then "▁Question"; transformers 5 writes "Question"). The ids equal
    those the authors' stack gave for every prompt of the 176 pairs (tests/acceptance/test_legacy_token_ids.py)."""
    from mediconfusion_tests.models.med_flamingo.model import ADDED_TOKENS, PAD_TOKEN

    require_transformers()
    tokenizer = load_sentencepiece_tokenizer(llama_path, legacy=True)
    tokenizer.add_special_tokens({"additional_special_tokens": list(ADDED_TOKENS)})
    if tokenizer.pad_token is None:
        tokenizer.add_special_tokens({"pad_token": PAD_TOKEN})
    return tokenizer


def make_med_flamingo(spec: ModelSpec, config: RunConfig) -> Model:
    require_transformers()
    import transformers

    from mediconfusion_tests.models.med_flamingo.model import (
        CHECKPOINT,
        DEFAULT_VISION,
        VISION_FOLDER,
        MedFlamingo,
        load_checkpoint,
        place,
    )

    if not config.llama_path:
        raise ModelError(
            f"med-flamingo needs the LLaMA-7B it was trained on: --llama-path=DIR (a transformers-format folder); "
            f"{MED_FLAMINGO_LLAMA}"
        )
    folder = checkpoint_folder(spec.argument)
    settings = load_settings(str(folder), config)
    device = resolve_device(settings.device)
    dtype = resolve_dtype(settings.dtype, device, "med-flamingo")
    try:
        tokenizer = load_tokenizer(config.llama_path)
        language = transformers.LlamaForCausalLM.from_pretrained(config.llama_path, dtype=dtype)
        vision_source = folder / VISION_FOLDER if (folder / VISION_FOLDER).is_dir() else DEFAULT_VISION
        vision = transformers.CLIPVisionModel.from_pretrained(str(vision_source), dtype=dtype)
    except (OSError, ValueError) as exc:
        raise ModelError(f"med-flamingo: cannot load its parts ({str(exc).splitlines()[0]})") from None
    image_size = vision.config.image_size
    if not isinstance(image_size, int):
        raise ModelError(
            f"med-flamingo: {vision_source}: image_size {image_size!r}, expected one number (224 for ViT-L/14)"
        )
    rows = language.get_output_embeddings().weight.shape[0]
    language.resize_token_embeddings(len(tokenizer), mean_resizing=False)
    added_rows(language, rows, config.seed)
    model = MedFlamingo(vision, language, token_id(tokenizer, "<image>"))
    model.to(dtype)  # the perceiver and the blocks were built in the default dtype
    model.endofchunk_id = token_id(tokenizer, "<|endofchunk|>")
    facts = place(model, load_checkpoint(folder / CHECKPOINT), dtype)
    model.to(device).eval()
    tokenizer.padding_side = "left"
    processor = MedFlamingoProcessor(tokenizer, image_size, few_shot_images(config.few_shot_dir))
    adapter = MedFlamingoModel(
        settings,
        name=spec.raw,
        generation=generation(config),
        fidelity=fidelity(config),
        loaded=(processor, model, FAMILY, device),
    )
    adapter.few_shot = bool(processor.few_shot)
    adapter.facts = {**facts, "llama": config.llama_path, "vision": str(vision_source)}
    return adapter
