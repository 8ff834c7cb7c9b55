"""--model=demo: a tiny LLaVA, built and trained locally at first use (about 30 s), then cached.

It runs real transformers inference on CPU in seconds. It was trained on synthetic
scenes that are not the sample benchmark's (sample/demo_training.py), so on the
sample it answers validly and gets some pairs right, confuses others and gets
some wrong: a demo of what the suite finds, not a medical model.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from mediconfusion_tests.models.hf import HFModel
from mediconfusion_tests.models.hf_factories import fidelity, generation
from mediconfusion_tests.models.hf_loading import LoadSettings, require_transformers
from mediconfusion_tests.sample.build_cache import build_once, cache_root

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from mediconfusion_tests.config import RunConfig
    from mediconfusion_tests.models.base import Model, ModelSpec

DEMO_VERSION = 5


def _build(folder: Path, progress: Callable[[int, int], None] | None = None) -> None:
    from mediconfusion_tests.sample.demo_model import build_demo

    build_demo(folder, seed=0, progress=progress)


def demo_folder() -> Path:
    return cache_root() / f"demo-llava-v{DEMO_VERSION}"


def demo_checkpoint() -> str:
    return str(build_once(demo_folder(), _build))


def prepare_demo(spec: ModelSpec, config: RunConfig, say: Callable[[str], None]) -> None:
    """On the controller, before workers start: train the demo once, saying how far it got, instead of
    every worker waiting silently on the first one's lock."""
    if demo_folder().is_dir():
        return
    require_transformers()
    started = time.perf_counter()
    say("demo model: first use, training a tiny LLaVA on synthetic scenes (cached for later runs)")

    def progress(done: int, steps: int) -> None:
        if done % 100 and done != steps:
            return
        elapsed = time.perf_counter() - started
        left = elapsed / done * (steps - done)
        say(f"demo model: step {done}/{steps}, {elapsed:.0f} s" + (f", about {left:.0f} s left" if left else ", done"))

    build_once(demo_folder(), lambda folder: _build(folder, progress))


def make_demo(spec: ModelSpec, config: RunConfig) -> Model:
    require_transformers()
    settings = LoadSettings(
        demo_checkpoint(),
        dtype="fp32",
        device="cpu" if config.device == "auto" else config.device,
        image_backend=config.image_backend,
        paper_readings=config.paper_readings,
    )
    return HFModel(settings, name="demo", generation=generation(config), fidelity=fidelity(config))
