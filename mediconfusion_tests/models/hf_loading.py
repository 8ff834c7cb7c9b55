"""Load a checkpoint's processor and model with the user's dtype, device and trust settings.

Loading errors become messages that say what to do: accept a licence and set
HF_TOKEN for gated checkpoints, pass --trust-remote-code for custom code.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mediconfusion_tests.errors import ModelError
from mediconfusion_tests.hub_access import download_hint, offline_reason
from mediconfusion_tests.models.families import Family, family_for
from mediconfusion_tests.models.image_backends import BackendChoice, choose, torchvision_installed
from mediconfusion_tests.models.paper_rules import paper_dtype, rule_for

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedTokenizerBase


@dataclass(frozen=True)
class LoadSettings:
    source: str
    revision: str | None = None
    #: auto, bf16, fp16, fp32, or "paper": the dtype the original harness loaded this family in
    #: (paper_rules), else ``paper_fallback`` (a preset's own dtype, or auto).
    dtype: str = "auto"
    paper_fallback: str = "auto"
    device: str = "auto"
    device_map: str | None = None
    attn_implementation: str | None = None
    trust_remote_code: bool = False
    family: str | None = None
    #: Licence page of a gated checkpoint, named in the error when access is refused.
    licence: str | None = None
    #: --image-backend, and whether some reading follows the original harness (image_backends.choose).
    image_backend: str = "auto"
    paper_readings: bool = False


def require_transformers() -> None:
    """torch and transformers importable (else a ModelError saying how to install them), transformers quiet."""
    try:
        import torch  # noqa: F401 - its presence is what is checked
        import transformers
    except ImportError as exc:
        raise ModelError(
            f"this model needs torch and transformers ({exc.name} is missing): "
            'install torch first (its CPU or CUDA build: docs/install.md), then pip install "transformers>=5" '
            "tokenizers safetensors sentencepiece protobuf (the hf extra)"
        ) from exc
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


def resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ModelError("--device=cuda, but torch sees no CUDA device (CPU build of torch, or no GPU visible)")
    return device


def resolve_dtype(dtype: str, device: str, family: str | None = None, fallback: str = "auto") -> torch.dtype:
    import torch

    if dtype == "paper":
        dtype = paper_dtype(family, fallback)
    if dtype == "auto":
        if device.startswith("cuda"):
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    return {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[dtype]


def _explain(settings: LoadSettings, exc: BaseException, offline: str | None = None) -> ModelError:
    text = f"{type(exc).__name__}: {exc}"
    source = settings.source
    if "gated" in text.lower() or type(exc).__name__ == "GatedRepoError":
        licence = settings.licence or f"https://huggingface.co/{source}"
        return ModelError(
            f"{source} is a gated checkpoint: accept its licence at {licence} with your Hugging Face account, "
            "then set HF_TOKEN to a token of that account (or run `hf auth login`)"
        )
    if "trust_remote_code" in text:
        return ModelError(
            f"{source} ships its own model code; if you trust it, run again with --trust-remote-code "
            "(off by default because it executes code from the checkpoint)"
        )
    if type(exc).__name__ in ("RepositoryNotFoundError", "RevisionNotFoundError"):
        return ModelError(f"{source}: no such checkpoint or revision on the hub (private ones need HF_TOKEN): {exc}")
    if offline is not None:
        return ModelError(
            f"{source} is not in the local Hugging Face cache and the hub is not asked ({offline}). On a machine "
            f"with access run `{download_hint(source)}` (the cache is $HF_HOME/hub; copy it over), or download it "
            f"to a folder and pass --model=hf:FOLDER"
        )
    return ModelError(f"cannot load {source!r} through transformers: {text.splitlines()[0]}")


class ExpandingProcessor:
    """Qwen2-VL/2.5-VL inputs without the official processor, which needs torchvision.

    Mirrors it: each image placeholder becomes grid_t*grid_h*grid_w / merge_size**2
    placeholder tokens, and mm_token_type_ids marks them for the 3-D rotary positions.
    """

    def __init__(self, tokenizer: Any, image_processor: Any) -> None:
        self.tokenizer = tokenizer
        self.image_processor = image_processor
        self.image_token = getattr(tokenizer, "image_token", None) or "<|image_pad|>"
        self.image_token_id = tokenizer.convert_tokens_to_ids(self.image_token)

    def apply_chat_template(self, messages: Any, **kwargs: Any) -> Any:
        return self.tokenizer.apply_chat_template(messages, tokenize=False, **kwargs)

    def __call__(self, text: list[str], images: list[Any] | None = None, return_tensors: str = "pt") -> Any:
        prompt = text[0]
        pixels: dict[str, Any] = {}
        if images:
            pixels = dict(self.image_processor(images=images, return_tensors=return_tensors))
            merge = self.image_processor.merge_size**2
            for grid in pixels["image_grid_thw"]:
                count = int(grid.prod()) // merge
                prompt = prompt.replace(self.image_token, "<|placeholder|>" * count, 1)
            prompt = prompt.replace("<|placeholder|>", self.image_token)
        encoded = dict(self.tokenizer([prompt], return_tensors=return_tensors))
        encoded["mm_token_type_ids"] = (encoded["input_ids"] == self.image_token_id).long()
        return {**encoded, **pixels}

    def batch_decode(self, *args: Any, **kwargs: Any) -> Any:
        return self.tokenizer.batch_decode(*args, **kwargs)


def backend_choice(settings: LoadSettings, family: Family) -> BackendChoice:
    return choose(
        settings.image_backend,
        family.name,
        rule_for(family.name) is not None,
        settings.paper_readings,
        torchvision_installed(),
    )


def _image_processor(transformers: Any, settings: LoadSettings, backend: str, common: dict[str, Any]) -> Any:
    try:
        return transformers.AutoImageProcessor.from_pretrained(settings.source, backend=backend, **common)
    except (ImportError, RuntimeError) as exc:
        if backend != "torchvision":
            raise
        # PyPI's torchvision beside a CPU build of torch: "operator torchvision::nms does not exist".
        raise ModelError(
            f"torchvision is installed but cannot be imported beside this torch ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0]}): install the torchvision built for the installed torch (docs/install.md), "
            "or use --image-backend=pil"
        ) from exc


def _load_processor(
    transformers: Any, settings: LoadSettings, family: Family, common: dict[str, Any], backend: str | None
) -> Any:
    # The image processor first, then the processor around it: a backend passed to AutoProcessor would
    # reach its tokenizer too, where "backend" means something else.
    chosen = {} if backend is None else {"image_processor": _image_processor(transformers, settings, backend, common)}
    try:
        return transformers.AutoProcessor.from_pretrained(settings.source, **chosen, **common)
    except ImportError:
        if not family.expands_image_tokens:
            raise
    tokenizer = transformers.AutoTokenizer.from_pretrained(settings.source, **common)
    image_processor = chosen.get("image_processor") or transformers.AutoImageProcessor.from_pretrained(
        settings.source, **common
    )
    return ExpandingProcessor(tokenizer, image_processor)


def load(settings: LoadSettings) -> tuple[Any, Any, Family, str]:
    """(processor, model, family, device) ready for inference."""
    require_transformers()
    import transformers

    device = resolve_device(settings.device)
    # A folder needs no hub; otherwise an unreachable hub means "cache only", at once, not after retries.
    offline = None if Path(settings.source).is_dir() else offline_reason()
    common = {
        "revision": settings.revision,
        "trust_remote_code": settings.trust_remote_code,
        **({"local_files_only": True} if offline else {}),
    }
    try:
        config = transformers.AutoConfig.from_pretrained(settings.source, **common)
        family = family_for(getattr(config, "model_type", None), settings.family)
        processor = _load_processor(transformers, settings, family, common, backend_choice(settings, family).backend)
        dtype = resolve_dtype(settings.dtype, device, family.name, settings.paper_fallback)
        kwargs: dict[str, Any] = {"dtype": dtype, **common}
        if settings.attn_implementation:
            kwargs["attn_implementation"] = settings.attn_implementation
        if settings.device_map:
            kwargs["device_map"] = settings.device_map
        model = transformers.AutoModelForImageTextToText.from_pretrained(settings.source, **kwargs)
    except ModelError:
        raise
    except (OSError, ValueError, ImportError, KeyError) as exc:
        raise _explain(settings, exc, offline) from exc
    if settings.device_map:
        device = str(model.device)  # inputs go where the first layers were placed
    else:
        model.to(device)  # type: ignore[arg-type]  # transformers' decorator hides Module.to's signature
    model.eval()
    tokenizer = processor.tokenizer
    tokenizer.padding_side = "left"
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return processor, model, family, device


def token_id(tokenizer: PreTrainedTokenizerBase, token: str) -> int:
    """The id of one token of the vocabulary (transformers' lookup also takes and returns lists)."""
    found = tokenizer.convert_tokens_to_ids(token)
    if not isinstance(found, int):
        raise ModelError(f"the tokenizer gives {found!r} for the token {token!r}, not one id")
    return found


def load_sentencepiece_tokenizer(folder: str, **options: Any) -> PreTrainedTokenizerBase:
    """``AutoTokenizer`` of a LLaMA-style folder; one holding only ``tokenizer.model`` (as many LLaMA-7B copies
    do) is converted from sentencepiece, which needs the sentencepiece and protobuf packages: when that
    fails the message names them, not the unrelated fallback transformers tries last (tiktoken)."""
    from transformers import AutoTokenizer

    try:
        tokenizer: PreTrainedTokenizerBase = AutoTokenizer.from_pretrained(folder, **options)
        return tokenizer
    except (OSError, ValueError, ImportError) as exc:
        only_model = (Path(folder) / "tokenizer.model").is_file() and not (Path(folder) / "tokenizer.json").is_file()
        missing = [name for name in ("sentencepiece", "google.protobuf") if importlib.util.find_spec(name) is None]
        if only_model and missing:
            names = " and ".join(name.replace("google.", "") for name in missing)
            raise ModelError(
                f"{folder}: its tokenizer is a sentencepiece tokenizer.model only (no tokenizer.json); converting it "
                f"needs {names}: pip install sentencepiece protobuf (both in the hf extra)"
            ) from None
        raise ModelError(f"{folder}: the tokenizer cannot be loaded ({str(exc).splitlines()[0]})") from None
