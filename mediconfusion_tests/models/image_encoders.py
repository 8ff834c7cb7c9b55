"""Image encoders for mining: where a model may be confused (``--encoder``) and what tells images apart
(``--reference``).

Specs:

* ``biomedclip`` (the default encoder, the paper's choice): BiomedCLIP through ``open_clip`` (optional:
  ``pip install open_clip_torch``, the "mining" extra); ``open_clip:NAME`` for any other open_clip model.
* ``dinov2`` (the default reference): ``facebook/dinov2-base`` through transformers.
* ``hf:PATH[@REVISION]``: any transformers image encoder, a hub id or a folder. Features: the model's
  ``get_image_features`` when it has one (CLIP, SigLIP: the projected embedding), else its ``pooler_output``
  (DINOv2: the normalised CLS token), else the first token of ``last_hidden_state``.
* ``model:SPEC``: the model under test's own view of an image, for any local model the suite runs
  (``model:demo``, ``model:llava``, ``model:hf:PATH``, ``model:radfm:PATH``...): its vision features as
  ``--encoder-similarity`` reads them (the image tokens its language side receives, mean over tokens), so
  pairs are mined for that model's blind spots. Its fingerprint is the model's answer-store fingerprint.
* ``python:MODULE:FUNCTION``: ``FUNCTION(images)`` with a list of RGB PIL images, returning an (n, d) array;
  MODULE is imported as Python imports it (the working directory, then PYTHONPATH). Its fingerprint is the
  module file's content (and the function's ``fingerprint`` attribute, if any), so editing it invalidates
  what was cached.

An encoder's fingerprint names what its vectors mean: cached vectors are reused only under the same one.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from mediconfusion_tests.errors import ModelError

if TYPE_CHECKING:
    from collections.abc import Callable

    from numpy.typing import NDArray
    from PIL import Image

    from mediconfusion_tests.models.base import LocalModel

BIOMEDCLIP = "hf-hub:microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224"
DINOV2 = "facebook/dinov2-base"
DEFAULT_ENCODER = "biomedclip"
DEFAULT_REFERENCE = "dinov2"


class ImageEncoder(Protocol):
    spec: str
    fingerprint: str

    def embed(self, images: list[Image.Image]) -> NDArray[np.float32]: ...


def resolve_encoder(spec: str, device: str = "auto") -> ImageEncoder:
    """The encoder a spec names (see the module docstring); ModelError for one that cannot be used."""
    if spec == "biomedclip":
        return OpenClipEncoder(spec, BIOMEDCLIP, device)
    if spec.startswith("open_clip:"):
        return OpenClipEncoder(spec, spec.removeprefix("open_clip:"), device)
    if spec == "dinov2":
        return HFEncoder(spec, DINOV2, None, device)
    if spec.startswith("hf:"):
        source, _, revision = spec.removeprefix("hf:").partition("@")
        if not source:
            raise ModelError(f"encoder {spec!r}: hf: needs a hub id or a folder, e.g. hf:facebook/dinov2-small")
        return HFEncoder(spec, source, revision or None, device)
    if spec.startswith("python:"):
        return PythonEncoder.load(spec)
    if spec.startswith("model:"):
        return ModelEncoder.load(spec, device)
    raise ModelError(
        f"unknown encoder {spec!r}: use biomedclip, dinov2, open_clip:NAME, hf:PATH[@REVISION], model:SPEC or "
        "python:MODULE:FUNCTION"
    )


def checked_vectors(spec: str, vectors: object, count: int) -> NDArray[np.float32]:
    """An encoder's output as an (n, d) float32 array, or a ModelError saying what it returned."""
    try:
        array = np.asarray(vectors, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise ModelError(
            f"encoder {spec}: returned {type(vectors).__name__}, not an array of numbers ({exc})"
        ) from None
    if array.ndim != 2 or array.shape[0] != count:
        raise ModelError(f"encoder {spec}: returned shape {array.shape} for {count} image(s); expected ({count}, d)")
    if array.shape[1] == 0:
        raise ModelError(f"encoder {spec}: returned vectors of dimension 0")
    if not np.isfinite(array).all():
        raise ModelError(f"encoder {spec}: returned NaN or infinity")
    return array


@dataclass
class PythonEncoder:
    spec: str
    function: Callable[[list[Image.Image]], object]
    fingerprint: str

    @classmethod
    def load(cls, spec: str) -> PythonEncoder:
        parts = spec.removeprefix("python:").split(":")
        if len(parts) != 2 or not all(parts):
            raise ModelError(f"encoder {spec!r}: expected python:MODULE:FUNCTION")
        module_name, function_name = parts
        # As `python -m` would: the working directory first.
        here = str(Path.cwd())
        if here not in sys.path:
            sys.path.insert(0, here)
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise ModelError(f"encoder {spec!r}: cannot import {module_name} ({exc})") from None
        function = getattr(module, function_name, None)
        if not callable(function):
            raise ModelError(f"encoder {spec!r}: {module_name} has no function {function_name}")
        digest = hashlib.sha256()
        try:
            digest.update(inspect.getsource(module).encode())
        except (OSError, TypeError):
            digest.update(module_name.encode())
        digest.update(str(getattr(function, "fingerprint", "")).encode())
        return cls(spec, function, f"python:{module_name}:{function_name}:{digest.hexdigest()[:16]}")

    def embed(self, images: list[Image.Image]) -> NDArray[np.float32]:
        return checked_vectors(self.spec, self.function(images), len(images))


@dataclass
class ModelEncoder:
    spec: str
    model: LocalModel
    fingerprint: str

    @classmethod
    def load(cls, spec: str, device: str) -> ModelEncoder:
        from mediconfusion_tests.config import RunConfig
        from mediconfusion_tests.models.base import LocalModel
        from mediconfusion_tests.models.registry import build_registry

        model_spec = spec.removeprefix("model:")
        if not model_spec:
            raise ModelError(f"encoder {spec!r}: model: needs a model spec, e.g. model:llava or model:hf:PATH")
        registry = build_registry()
        parsed = registry.parse(model_spec)
        model = registry.entry(parsed).load_factory()(parsed, RunConfig(model=model_spec, device=device))
        if not isinstance(model, LocalModel) or model.image_feature_pooling() is None:
            model.close()
            raise ModelError(
                f"encoder {spec!r}: {model.name} exposes no vision features (only local models with a vision "
                "tower do; API and served models do not)"
            )
        return cls(spec, model, f"model:{model.fingerprint()}")

    def embed(self, images: list[Image.Image]) -> NDArray[np.float32]:
        return checked_vectors(self.spec, self.model.image_features(images), len(images))


@dataclass
class HFEncoder:
    spec: str
    source: str
    revision: str | None
    device: str
    fingerprint: str = ""
    pooling: str = ""
    _model: Any = field(default=None, repr=False)
    _processor: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        from mediconfusion_tests.models.hf_loading import require_transformers, resolve_device

        require_transformers()
        from transformers import AutoImageProcessor, AutoModel

        self.device = resolve_device(self.device)
        try:
            self._processor = AutoImageProcessor.from_pretrained(self.source, revision=self.revision)
            self._model = AutoModel.from_pretrained(self.source, revision=self.revision).to(self.device).eval()
        except (OSError, ValueError) as exc:
            raise ModelError(f"encoder {self.spec}: cannot load {self.source} ({str(exc).splitlines()[0]})") from None
        self.pooling = "image_features" if hasattr(self._model, "get_image_features") else self._pooled_or_first()
        version = getattr(self._model.config, "_commit_hash", None) or _folder_digest(Path(self.source))
        self.fingerprint = f"hf:{self.source}@{version}:{self.pooling}"

    def _pooled_or_first(self) -> str:
        """pooler_output when the model's output has one (DINOv2, ViT), found by running one blank image."""
        import torch
        from PIL import Image

        pixels = self._processor(images=[Image.new("RGB", (32, 32))], return_tensors="pt")["pixel_values"]
        with torch.inference_mode():
            out = self._model(pixel_values=pixels.to(self.device))
        return "pooler_output" if getattr(out, "pooler_output", None) is not None else "first_token"

    def embed(self, images: list[Image.Image]) -> NDArray[np.float32]:
        import torch

        pixels = self._processor(images=images, return_tensors="pt")["pixel_values"].to(self.device)
        with torch.inference_mode():
            if self.pooling == "image_features":
                out = self._model.get_image_features(pixel_values=pixels)
                features = getattr(out, "pooler_output", out)
            else:
                out = self._model(pixel_values=pixels)
                features = out.pooler_output if self.pooling == "pooler_output" else out.last_hidden_state[:, 0]
        return checked_vectors(self.spec, features.float().cpu().numpy(), len(images))


@dataclass
class OpenClipEncoder:
    spec: str
    name: str
    device: str
    fingerprint: str = ""
    _model: Any = field(default=None, repr=False)
    _preprocess: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        try:
            import open_clip
        except ImportError as exc:
            raise ModelError(
                f"encoder {self.spec}: needs open_clip ({exc.name} is missing): "
                "pip install open_clip_torch torchvision (the mining extra), "
                "or choose another --encoder (hf:PATH, python:...)"
            ) from None
        from mediconfusion_tests.models.hf_loading import resolve_device

        self.device = resolve_device(self.device)
        try:
            model, _, preprocess = open_clip.create_model_and_transforms(self.name)
        except (OSError, RuntimeError, ValueError) as exc:
            raise ModelError(f"encoder {self.spec}: cannot load {self.name} ({str(exc).splitlines()[0]})") from None
        self._model, self._preprocess = model.to(self.device).eval(), preprocess
        self.fingerprint = f"open_clip:{self.name}:{open_clip.__version__}"

    def embed(self, images: list[Image.Image]) -> NDArray[np.float32]:
        import torch

        batch = torch.stack([self._preprocess(image) for image in images]).to(self.device)
        with torch.inference_mode():
            features = self._model.encode_image(batch)
        return checked_vectors(self.spec, features.float().cpu().numpy(), len(images))


def _folder_digest(folder: Path) -> str:
    """A local checkpoint's identity: its config and weight files' names, sizes and contents' ends."""
    if not folder.is_dir():
        return "unknown"
    digest = hashlib.sha256()
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.suffix in (".json", ".safetensors", ".bin"):
            size = path.stat().st_size
            digest.update(f"{path.name}:{size}".encode())
            with path.open("rb") as handle:
                digest.update(handle.read(1 << 20))
                if size > 2 << 20:
                    handle.seek(-(1 << 20), os.SEEK_END)
                    digest.update(handle.read())
    return digest.hexdigest()[:16]
