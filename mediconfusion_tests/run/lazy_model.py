"""A model that loads on its first answer the answer store does not hold.

A rerun whose answers are all stored needs the model only for what the store's keys are made of: its
fingerprint and generation settings. Both are recorded beside the store when the model first loads, under a
key made of the model spec, the settings that change what is loaded, and what identifies its files without
reading them (a folder's names, sizes and times; a hub snapshot's commit; run/identity_versions). A later run
with the same key builds a LazyModel from the record: the store answers what it can, and the first query it
cannot answer loads the real model. Models whose files cannot be identified that cheaply load as before.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from mediconfusion_tests.atomic import write_text_atomic
from mediconfusion_tests.models.base import LocalModel, Model
from mediconfusion_tests.models.image_backends import torchvision_installed

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path

    import numpy as np
    from numpy.typing import NDArray
    from PIL import Image

    from mediconfusion_tests.config import RunConfig
    from mediconfusion_tests.models.base import Answer, ModelSpec, Query

#: The run settings that change which weights load or how they answer; any other option (gates, reports,
#: shards, budgets) leaves a recorded identity valid.
LOADING_FIELDS = (
    "model",
    "model_revision",
    "dtype",
    "device",
    "device_map",
    "attn_implementation",
    "image_backend",
    "trust_remote_code",
    "max_new_tokens",
    "temperature",
    "top_p",
    "seed",
    "generation",
    "prefix_tokens",
    "letter_tokens",
    "llama_path",
    "few_shot_dir",
)
IDENTITY_VERSION = 1


@dataclass(frozen=True)
class Identity:
    """What the answer store's keys and results.json need of a loaded model."""

    name: str
    fingerprint: str
    generation_settings: dict[str, Any]
    describe: dict[str, Any]
    prompt_key: str
    prompt_set: str | None
    sends_prompts: bool
    cacheable: bool
    local: bool
    image_feature_pooling: str | None = None
    modes: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, model: Model) -> Identity:
        local = isinstance(model, LocalModel)
        return cls(
            name=model.name,
            fingerprint=model.fingerprint(),
            generation_settings=model.generation_settings(),
            describe=model.describe(),
            prompt_key=model.prompt_key,
            prompt_set=model.prompt_set,
            sends_prompts=model.sends_prompts,
            cacheable=model.cacheable,
            local=local,
            image_feature_pooling=model.image_feature_pooling() if isinstance(model, LocalModel) else None,
            modes=sorted(model.modes),
        )


def identity_key(spec: ModelSpec, config: RunConfig, version: str) -> str:
    settings = config.to_dict()
    wanted = {name: settings.get(name) for name in LOADING_FIELDS}
    if config.image_backend == "auto":
        # transformers' own choice follows what is installed: installing torchvision changes the pixels.
        wanted["torchvision_installed"] = torchvision_installed()
    text = json.dumps({"v": IDENTITY_VERSION, "spec": spec.raw, "files": version, **wanted}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _path(folder: Path, key: str) -> Path:
    return folder / f"{key}.json"


def read_identity(folder: Path, key: str) -> Identity | None:
    """The recorded identity, or None when there is none or it cannot be read (the model then loads)."""
    try:
        data = json.loads(_path(folder, key).read_text())
        return Identity(**data)
    except (OSError, ValueError, TypeError):
        return None


def write_identity(folder: Path, key: str, model: Model) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    write_text_atomic(_path(folder, key), json.dumps(asdict(Identity.of(model)), sort_keys=True, allow_nan=False))


class LazyModel(LocalModel):
    """Stands in for a model until an answer needs it; ``load`` returns the real model (or stops the run)."""

    def __init__(self, identity: Identity, load: Callable[[], Model], on_load: Callable[[Model, float], None]) -> None:
        self.identity = identity
        self.name = identity.name
        self.modes = frozenset(identity.modes) or self.modes
        self.prompt_key = identity.prompt_key
        self.prompt_set = identity.prompt_set
        self.sends_prompts = identity.sends_prompts
        self.cacheable = identity.cacheable
        self._load = load
        self._on_load = on_load
        self._model: Model | None = None

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def real(self) -> Model:
        if self._model is None:
            started = time.perf_counter()
            self._model = self._load()
            self._on_load(self._model, time.perf_counter() - started)
        return self._model

    def fingerprint(self) -> str:
        return self.identity.fingerprint

    def generation_settings(self) -> dict[str, Any]:
        return dict(self.identity.generation_settings)

    def describe(self) -> dict[str, Any]:
        return dict(self.identity.describe)

    def image_feature_pooling(self) -> str | None:
        return self.identity.image_feature_pooling

    def answer(self, queries: Sequence[Query]) -> list[Answer]:
        return list(self.real().answer(queries))

    def forward_counts(self) -> tuple[int, int] | None:
        return self._model.forward_counts() if self._model is not None else None

    def prefetch(self, queries: Sequence[Query]) -> None:
        if self._model is not None:
            self._model.prefetch(queries)

    def forget_prefetched(self, keep: Sequence[Query] = ()) -> None:
        if self._model is not None:
            self._model.forget_prefetched(keep)

    def preprocess_facts(self) -> dict[str, Any] | None:
        return self._model.preprocess_facts() if self._model is not None else None

    @property
    def prefetch_depth(self) -> int:
        return self._model.prefetch_depth if self._model is not None else 0

    def generate(self, queries: Sequence[Query]) -> list[Answer]:
        return self.answer(queries)

    def next_letter(self, queries: Sequence[Query]) -> list[Answer]:
        return self.answer(queries)

    def option_likelihood(self, queries: Sequence[Query]) -> list[Answer]:
        return self.answer(queries)

    def image_features(self, images: Sequence[Image.Image]) -> NDArray[np.float32]:
        model = self.real()
        assert isinstance(model, LocalModel)  # noqa: S101 - recorded as local with a pooling
        return model.image_features(images)

    def close(self) -> None:
        if self._model is not None:
            self._model.close()
