"""--model=demo: a tiny random-weight LLaVA, built locally at first use and cached.

It runs real transformers inference on CPU in seconds. Its weights are random,
so its answers and scores mean nothing: it exists to show the suite working
offline.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mediconfusion_tests.models.hf import HFModel
from mediconfusion_tests.models.hf_factories import generation
from mediconfusion_tests.models.hf_loading import LoadSettings, require_transformers
from mediconfusion_tests.sample.build_cache import build_once, cache_root

if TYPE_CHECKING:
    from pathlib import Path

    from mediconfusion_tests.config import RunConfig
    from mediconfusion_tests.models.base import Model, ModelSpec

DEMO_VERSION = 2


def _build(folder: Path) -> None:
    from mediconfusion_tests.sample.demo_model import build_demo

    build_demo(folder, seed=0)


def demo_checkpoint() -> str:
    return str(build_once(cache_root() / f"demo-llava-v{DEMO_VERSION}", _build))


def make_demo(spec: ModelSpec, config: RunConfig) -> Model:
    require_transformers()
    settings = LoadSettings(demo_checkpoint(), dtype="fp32", device="cpu" if config.device == "auto" else config.device)
    return HFModel(settings, name="demo", generation=generation(config))
