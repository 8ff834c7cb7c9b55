"""--model=demo: a tiny LLaVA, built and trained locally at first use (about 30 s), then cached.

It runs real transformers inference on CPU in seconds. It was trained on synthetic
scenes that are not the sample benchmark's (sample/demo_training.py), so on the
sample it answers validly and gets some pairs right, confuses others and gets
some wrong: a demo of what the suite finds, not a medical model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mediconfusion_tests.models.hf import HFModel
from mediconfusion_tests.models.hf_factories import fidelity, generation
from mediconfusion_tests.models.hf_loading import LoadSettings, require_transformers
from mediconfusion_tests.sample.build_cache import build_once, cache_root

if TYPE_CHECKING:
    from pathlib import Path

    from mediconfusion_tests.config import RunConfig
    from mediconfusion_tests.models.base import Model, ModelSpec

DEMO_VERSION = 5


def _build(folder: Path) -> None:
    from mediconfusion_tests.sample.demo_model import build_demo

    build_demo(folder, seed=0)


def demo_checkpoint() -> str:
    return str(build_once(cache_root() / f"demo-llava-v{DEMO_VERSION}", _build))


def make_demo(spec: ModelSpec, config: RunConfig) -> Model:
    require_transformers()
    settings = LoadSettings(demo_checkpoint(), dtype="fp32", device="cpu" if config.device == "auto" else config.device)
    return HFModel(settings, name="demo", generation=generation(config), fidelity=fidelity(config))
