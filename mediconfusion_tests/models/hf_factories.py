"""Factories for --model=hf:... and the presets: RunConfig and a preset to a loaded transformers model."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mediconfusion_tests.models.hf import Fidelity, Generation, HFModel
from mediconfusion_tests.models.hf_loading import LoadSettings
from mediconfusion_tests.models.presets import BY_NAME, Preset

if TYPE_CHECKING:
    from mediconfusion_tests.config import RunConfig
    from mediconfusion_tests.models.base import Model, ModelSpec


def load_settings(source: str, config: RunConfig, preset: Preset | None = None) -> LoadSettings:
    dtype = config.effective_dtype
    own = preset.dtype if preset is not None else "auto"
    return LoadSettings(
        source=source,
        revision=config.model_revision,
        dtype=own if dtype == "auto" else dtype,
        paper_fallback=own,
        device=config.device,
        device_map=config.device_map,
        attn_implementation=config.attn_implementation,
        trust_remote_code=config.trust_remote_code,
        family=preset.family if preset else None,
        licence=preset.licence if preset else None,
        image_backend=config.image_backend,
        paper_readings=config.paper_readings,
    )


def generation(config: RunConfig) -> Generation:
    return Generation(config.max_new_tokens, config.temperature, config.top_p, config.seed, config.generation)


def fidelity(config: RunConfig) -> Fidelity:
    return Fidelity(config.prefix_tokens, config.letter_tokens)


def make_hf(spec: ModelSpec, config: RunConfig) -> Model:
    """--model=hf:REPO_ID_OR_LOCAL_PATH: any checkpoint, family from its config."""
    return HFModel(
        load_settings(spec.argument or "", config),
        name=spec.raw,
        generation=generation(config),
        fidelity=fidelity(config),
    )


def make_preset(spec: ModelSpec, config: RunConfig) -> Model:
    preset = BY_NAME[spec.name]
    settings = load_settings(preset.checkpoint, config, preset)
    return HFModel(
        settings, name=spec.name, generation=generation(config), prompt_key=preset.prompt_key, fidelity=fidelity(config)
    )
