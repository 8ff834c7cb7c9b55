"""Named checkpoints (--model=NAME): the models the field reports on MediConfusion.

Each preset fixes the checkpoint, its family, a dtype and the key of its
prompts in the paper's prompt file; --model-revision and --dtype override.
Pure data: listing presets imports no model code (see hf_factories.py).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Preset:
    name: str
    checkpoint: str
    family: str
    dtype: str
    summary: str
    prompt_key: str | None = None
    licence: str | None = None


def _gated(repo: str) -> str:
    return f"https://huggingface.co/{repo}"


PRESETS: tuple[Preset, ...] = (
    Preset(
        "llava",
        "llava-hf/llava-v1.6-mistral-7b-hf",
        "llava-next",
        "fp16",
        "LLaVA-NeXT Mistral 7B (the paper's LLaVA row)",
    ),
    Preset("blip2", "Salesforce/blip2-opt-2.7b", "blip2", "fp16", "BLIP-2 OPT-2.7B (paper row)"),
    Preset(
        "instructblip",
        "Salesforce/instructblip-vicuna-7b",
        "instructblip",
        "fp16",
        "InstructBLIP Vicuna 7B (paper row)",
    ),
    Preset(
        "llama-3.2-vision",
        "meta-llama/Llama-3.2-11B-Vision-Instruct",
        "mllama",
        "bf16",
        "Llama 3.2 11B Vision Instruct (gated)",
        licence=_gated("meta-llama/Llama-3.2-11B-Vision-Instruct"),
    ),
    Preset(
        "llama-3.2-vision-90b",
        "meta-llama/Llama-3.2-90B-Vision-Instruct",
        "mllama",
        "bf16",
        "Llama 3.2 90B Vision Instruct (gated; several GPUs: --gpus-per-worker, --device-map=auto)",
        licence=_gated("meta-llama/Llama-3.2-90B-Vision-Instruct"),
    ),
    Preset(
        "medgemma",
        "google/medgemma-4b-it",
        "gemma3",
        "bf16",
        "MedGemma 4B (gated)",
        licence=_gated("google/medgemma-4b-it"),
    ),
    Preset(
        "medgemma-27b",
        "google/medgemma-27b-it",
        "gemma3",
        "bf16",
        "MedGemma 27B multimodal (gated)",
        licence=_gated("google/medgemma-27b-it"),
    ),
    Preset("qwen2.5-vl", "Qwen/Qwen2.5-VL-7B-Instruct", "qwen2-vl", "bf16", "Qwen2.5-VL 7B Instruct"),
    Preset("lingshu", "lingshu-medical-mllm/Lingshu-7B", "qwen2-vl", "bf16", "Lingshu 7B (medical, Qwen2.5-VL based)"),
    Preset(
        "huatuogpt-vision",
        "FreedomIntelligence/HuatuoGPT-Vision-7B-Qwen2.5VL",
        "qwen2-vl",
        "bf16",
        "HuatuoGPT-Vision 7B (medical, Qwen2.5-VL based)",
    ),
    Preset("smolvlm", "HuggingFaceTB/SmolVLM2-2.2B-Instruct", "idefics3", "bf16", "SmolVLM2 2.2B Instruct"),
    Preset(
        "paligemma",
        "google/paligemma-3b-mix-448",
        "paligemma",
        "bf16",
        "PaliGemma 3B mix 448 (gated)",
        licence=_gated("google/paligemma-3b-mix-448"),
    ),
    Preset("idefics3", "HuggingFaceM4/Idefics3-8B-Llama3", "idefics3", "bf16", "Idefics3 8B Llama 3"),
    Preset("molmo2", "allenai/Molmo2-8B", "molmo2", "bf16", "Molmo2 8B (native transformers class)"),
)
BY_NAME = {preset.name: preset for preset in PRESETS}
