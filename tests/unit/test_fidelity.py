"""The `paper` settings follow the original harness's set_model_params, family by family (no model)."""

from __future__ import annotations


def test_paper_settings_follow_set_model_params_and_the_loaded_dtype() -> None:
    """What utils/answering.py's set_model_params and each Models/*.py do, family by family (read there)."""
    from mediconfusion_tests.config import RunConfig
    from mediconfusion_tests.models.paper_rules import RULES, paper_dtype

    mc = {family: RULES[family].generation("mc") for family in ("blip2", "instructblip", "llava-next", "mllama")}
    assert mc["blip2"] == {"do_sample": False, "num_beams": 1, "max_new_tokens": 32}
    assert mc["instructblip"] == {
        "do_sample": True,
        "temperature": 0.1,
        "num_beams": 1,
        "max_new_tokens": 32,
        "repetition_penalty": 1.5,
        "length_penalty": 1.0,
        "min_length": 1,
    }
    assert mc["llava-next"] == mc["mllama"] == {"do_sample": False, "num_beams": 1, "max_new_tokens": 100}
    dtypes = {family: paper_dtype(family) for family in ("blip2", "instructblip", "llava-next", "mllama")}
    assert dtypes == {"blip2": "fp32", "instructblip": "fp32", "llava-next": "fp32", "mllama": "bf16"}
    assert (paper_dtype("llava-med"), paper_dtype("radfm"), paper_dtype("med-flamingo")) == ("fp16", "fp32", "fp32")
    assert paper_dtype("qwen2-vl", fallback="bf16") == "bf16"  # never run by the paper: the preset's own
    assert RunConfig().effective_dtype == "paper"
    assert RunConfig(prefix_tokens="context", letter_tokens="context").effective_dtype == "auto"
    assert RunConfig(prefix_tokens="context", letter_tokens="context", generation="paper").effective_dtype == "paper"
    assert RunConfig(dtype="fp16").effective_dtype == "fp16"
