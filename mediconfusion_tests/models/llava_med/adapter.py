"""``--model=llava-med`` / ``llava-med:PATH``: LLaVA-Med v1.5 through the suite's transformers adapter.

The published checkpoint (``microsoft/llava-med-v1.5-mistral-7b``: config, four
safetensors shards, Mistral's tokenizer) is loaded by our key map into
transformers' LLaVA (see loading.py); answering is the adapter every
transformers model uses, with LLaVA-Med's own prompt format and image inputs.
"""

from __future__ import annotations

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
)
from mediconfusion_tests.models.hub_names import LLAVA_MED_REPO

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from mediconfusion_tests.config import RunConfig
    from mediconfusion_tests.models.base import Model, ModelSpec

HUB_REPO = LLAVA_MED_REPO
#: Plain prompts (the conversation format is applied in ``render``); the paper's file keys it llava_med.
FAMILY = Family("llava-med", (), prompt_style="plain", prompt_key="llava_med")
PATTERNS = ("*.json", "*.safetensors", "tokenizer.model", "*.txt")


def checkpoint_folder(argument: str | None, revision: str | None) -> Path:
    """A local folder as given, or the hub snapshot (downloaded once into the Hugging Face cache)."""
    if argument:
        folder = Path(argument).expanduser()
        if not folder.is_dir():
            raise ModelError(f"llava-med:{argument}: not a folder (give the folder holding config.json and the shards)")
        return folder
    from huggingface_hub import snapshot_download

    from mediconfusion_tests.hub_access import download_hint, offline_reason

    offline = offline_reason()
    try:
        return Path(
            snapshot_download(
                HUB_REPO, revision=revision, allow_patterns=list(PATTERNS), local_files_only=bool(offline)
            )
        )
    except Exception as exc:  # noqa: BLE001 - hub errors come in many classes; each is said once, with the fix
        hint = f"; fetch it where the hub is reachable: {download_hint(HUB_REPO)}" if offline else ""
        raise ModelError(f"cannot get {HUB_REPO} ({offline or exc}){hint}") from None


class LlavaMedModel(HFModel):
    def render(self, prompt: str, with_image: bool = True, verbatim: bool = False) -> str:
        """``mistral_instruct``, the conversation LLaVA-Med v1.5 was trained with, for every prompt set."""
        return f"[INST] <image>\n{prompt} [/INST]" if with_image else f"[INST] {prompt} [/INST]"

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "loaded": self.load_facts}

    load_facts: dict[str, Any] = {}  # noqa: RUF012 - replaced per instance


def load_tokenizer(folder: Path) -> PreTrainedTokenizerBase:
    """Mistral's tokenizer as LLaVA-Med's builder loaded it (``AutoTokenizer.from_pretrained``)."""
    require_transformers()
    return load_sentencepiece_tokenizer(str(folder))


def make_llava_med(spec: ModelSpec, config: RunConfig) -> Model:
    require_transformers()

    from mediconfusion_tests.models.llava_med.loading import IMAGE_TOKEN, LlavaMedProcessor, load_model

    folder = checkpoint_folder(spec.argument, config.model_revision)
    settings = load_settings(str(folder), config)
    device = resolve_device(settings.device)
    # Its authors' builder loads float16: "auto" means that too on a GPU (and "paper" everywhere).
    wanted = "fp16" if settings.dtype == "auto" and device != "cpu" else settings.dtype
    dtype = resolve_dtype(wanted, device, "llava-med")
    tokenizer = load_tokenizer(folder)
    image_token_id = tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)
    if not isinstance(image_token_id, int) or image_token_id == tokenizer.bos_token_id:
        raise ModelError(f"{folder}: the tokenizer has no {IMAGE_TOKEN} token to hold the image's place")
    model, facts = load_model(folder, dtype, device, image_token_id)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    vision = model.config.vision_config
    grid = vision.image_size // vision.patch_size
    processor = LlavaMedProcessor(tokenizer, vision.image_size, grid * grid)
    adapter = LlavaMedModel(
        settings,
        name=spec.raw,
        generation=generation(config),
        fidelity=fidelity(config),
        loaded=(processor, model, FAMILY, device),
    )
    adapter.load_facts = facts
    return adapter
