"""--encoder-similarity: how alike a pair's two images are in the model's own vision features.

Per pair, the cosine of the two images' vectors as the model under test sees them
(``LocalModel.image_features``: its vision features pooled as the adapter documents),
and in a reference encoder (DINOv2 by default, only when its weights are already on
this machine). Vectors are kept in the embedding cache beside the answer store, keyed
by image content and encoder fingerprint, so a rerun does not encode an image again.
A failure to measure never fails a pair: it is reported once and the pairs carry none.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mediconfusion_tests.errors import MediConfusionError
from mediconfusion_tests.models.base import LocalModel
from mediconfusion_tests.redaction import scrub
from mediconfusion_tests.run.embedding_store import EmbeddingCache
from mediconfusion_tests.scoring.outcome import EncoderSimilarity

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from numpy.typing import NDArray
    from PIL import Image

    from mediconfusion_tests.config import RunConfig
    from mediconfusion_tests.models.base import Model
    from mediconfusion_tests.models.image_encoders import ImageEncoder

#: Images encoded in one call: a chunk of pairs at a time, as answering batches them.
BATCH = 32
#: The reference encoder ``auto`` picks when its weights are in the local Hugging Face cache.
AUTO_REFERENCE = "dinov2"


class _Side:
    """One encoder of the meter with its caches: vectors by image sha256, on disk and for this process."""

    def __init__(
        self, fingerprint: str, embed: Callable[[list[Image.Image]], NDArray[np.float32]], cache: Path | None
    ) -> None:
        self.embed = embed
        self.cache = None if cache is None else EmbeddingCache.open(cache, fingerprint)
        self.memory: dict[str, NDArray[np.float32]] = {}

    def vectors(self, paths: Sequence[str], digests: Sequence[str]) -> list[NDArray[np.float32]]:
        from PIL import Image

        wanted = dict(zip(digests, paths, strict=True))
        missing = [d for d in wanted if d not in self.memory]
        if missing and self.cache is not None:
            self.memory.update(self.cache.get(missing))
        for start in range(0, len(missing := [d for d in missing if d not in self.memory]), BATCH):
            chunk = missing[start : start + BATCH]
            images = []
            for digest in chunk:
                with Image.open(wanted[digest]) as image:
                    images.append(image.convert("RGB"))
            computed = dict(zip(chunk, self.embed(images), strict=True))
            if self.cache is not None:
                self.cache.put(computed.items())
            self.memory.update(computed)
        return [self.memory[d] for d in digests]

    def close(self) -> None:
        if self.cache is not None:
            self.cache.close()


def cosine(a: NDArray[np.float32], b: NDArray[np.float32]) -> float:
    norms = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(np.dot(a, b) / norms) if norms > 0 else 0.0


class SimilarityMeter:
    def __init__(self, model: LocalModel, pooling: str, reference: ImageEncoder | None, cache: Path | None) -> None:
        self.pooling = pooling
        self.reference_spec = None if reference is None else reference.spec
        self._model = _Side(f"model:{model.fingerprint()}", model.image_features, cache)
        self._reference = None if reference is None else _Side(reference.fingerprint, reference.embed, cache)
        #: The first failure to measure; after it the meter measures nothing more.
        self.failure: str | None = None

    def prefetch(self, paths: Sequence[str], digests: Sequence[str]) -> None:
        """Encode a chunk's images together (one forward per BATCH images instead of one per image)."""
        if self.failure is not None:
            return
        try:
            self._model.vectors(paths, digests)
            if self._reference is not None:
                self._reference.vectors(paths, digests)
        except Exception:  # noqa: BLE001 - measure() meets the failure again, pair by pair, and records it
            return

    def measure(self, paths: tuple[str, str], digests: tuple[str, str]) -> EncoderSimilarity | None:
        if self.failure is not None:
            return None
        try:
            first, second = self._model.vectors(paths, digests)
            reference = None
            if self._reference is not None:
                left, right = self._reference.vectors(paths, digests)
                reference = round(cosine(left, right), 6)
        except Exception as exc:  # noqa: BLE001 - any failure of a vision tower: the pairs keep their answers
            self.failure = scrub(f"{type(exc).__name__}: {exc}".splitlines()[0])
            return None
        return EncoderSimilarity(model=round(cosine(first, second), 6), reference=reference)

    def status(self) -> dict[str, Any]:
        return {"pooling": self.pooling, "reference": self.reference_spec, "failure": self.failure}

    def close(self) -> None:
        self._model.close()
        if self._reference is not None:
            self._reference.close()


def make_meter(model: Model, config: RunConfig) -> tuple[SimilarityMeter | None, dict[str, Any]]:
    """The meter a run uses (None when off or not available) and its status for results.json."""
    if config.encoder_similarity == "off":
        return None, {"note": "off (--encoder-similarity=off)"}
    if not isinstance(model, LocalModel):
        return None, {"note": f"not available: {model.name} is an API, served or replayed model"}
    pooling = model.image_feature_pooling()
    if pooling is None:
        return None, {"note": f"not available: {model.name} exposes no vision features"}
    reference, note = _reference(config)
    cache = config.answer_store_path().parent / "embeddings" if config.use_store else None
    meter = SimilarityMeter(model, pooling, reference, cache)
    status = meter.status()
    if note:
        status["reference_note"] = note
    return meter, status


def _reference(config: RunConfig) -> tuple[ImageEncoder | None, str | None]:
    from mediconfusion_tests.models.image_encoders import DINOV2, resolve_encoder

    spec = config.similarity_reference
    if spec == "none":
        return None, None
    if spec == "auto":
        if not _cached_on_this_machine(DINOV2):
            return None, f"no reference encoder: {DINOV2} is not in the local cache (--similarity-reference=dinov2)"
        spec = AUTO_REFERENCE
    try:
        return resolve_encoder(spec, config.device), None
    except MediConfusionError as exc:
        return None, f"no reference encoder: {exc}"


def _cached_on_this_machine(repo: str) -> bool:
    """Whether the hub checkpoint's weights are already downloaded (checked without the network)."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    for name in ("model.safetensors", "pytorch_model.bin"):
        found = try_to_load_from_cache(repo, name)
        if isinstance(found, str) and Path(found).is_file():
            return True
    return False
