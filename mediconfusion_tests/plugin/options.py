"""Command-line options, generated from RunConfig's field metadata, and their merge into a RunConfig."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest

from mediconfusion_tests.config import (
    DEFAULT_RESULTS_DIR,
    Option,
    RunConfig,
    option_fields,
    read_file_settings,
    validate,
)
from mediconfusion_tests.errors import ConfigError
from mediconfusion_tests.results.gate import check_syntax, parse_condition

DEST = "mediconfusion_"
GROUP = "mediconfusion"
#: pytest --help shows the options in these groups, in this order (one flat list of 60 was unreadable).
SECTIONS: dict[str, tuple[str, ...]] = {
    "run": (
        "model",
        "mode",
        "seed",
        "limit",
        "shard",
        "batch_size",
        "preprocess_workers",
        "threads_per_worker",
        "gpus_per_worker",
    ),
    "data": ("dataset", "dataset_revision", "images", "allow_missing_images", "allow_missing_answers", "prompts"),
    "model": (
        "device",
        "dtype",
        "model_revision",
        "device_map",
        "attn_implementation",
        "image_backend",
        "trust_remote_code",
        "max_new_tokens",
        "temperature",
        "top_p",
        "generation",
        "prefix_tokens",
        "letter_tokens",
        "answer_parser",
        "judge",
        "judge_threshold",
        "llama_path",
        "few_shot_dir",
    ),
    "gate": (
        "gates",
        "gate_min_pairs",
        "baseline",
        "alpha",
        "fail_on_significant_regression",
        "max_regressed_pairs",
        "allow_baseline_mismatch",
    ),
    "reports": (
        "results_dir",
        "keep_runs",
        "images_in_report",
        "junit_cases",
        "use_store",
        "answer_store",
        "encoder_similarity",
        "similarity_reference",
    ),
    "served models": (
        "concurrency",
        "image_position",
        "request_timeout",
        "max_retries",
        "max_requests",
        "max_cost",
        "env_file",
    ),
    "probes": ("probes", "probe_examples"),
}


def gate_type(text: str) -> str:
    """--gate values are checked as they are parsed: a malformed gate is a usage error at once. Metric names
    are checked once conftest.py files have registered theirs (read_config)."""
    try:
        check_syntax(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def add_options(parser: pytest.Parser) -> None:
    options = dict(option_fields())
    for section, names in SECTIONS.items():
        title = "MediConfusion benchmark (mediconfusion-tests)" if section == "run" else f"MediConfusion {section}"
        group = parser.getgroup(GROUP if section == "run" else f"{GROUP}-{section}", title)
        for name in names:
            option = options.pop(name)
            settings = _argparse_settings(option)
            if name == "gates":
                settings["type"] = gate_type
            group.addoption(*option.flags(name), dest=DEST + name, **settings)
            if name == "model":
                group.addoption(
                    "--list-models", dest=DEST + "list_models", action="store_true", help="list known models and exit"
                )
    if options:  # a new option must be given its place in --help
        raise RuntimeError(f"options without a section in plugin/options.py: {', '.join(options)}")


def _argparse_settings(option: Option) -> dict[str, Any]:
    settings: dict[str, Any] = {"help": option.help, "default": None}
    if option.switch:
        settings["action"] = "store_false" if option.flip else "store_true"
        return settings
    if option.repeat:
        settings["action"] = "append"
    if option.parse is not None:
        settings["type"] = option.parse
    if option.choices is not None:
        settings["choices"] = option.choices
    if option.metavar is not None:
        settings["metavar"] = option.metavar
    return settings


def _absolute(value: str, invocation: Path) -> str:
    return str((invocation / Path(value).expanduser()).resolve())


def _model_argument(spec: str | None, invocation: Path) -> str | None:
    """replay:PATH and a local hf:PATH (or NAME:PATH of a plugin model) are files relative to where pytest started."""
    if not spec or ":" not in spec:
        return spec
    name, argument = spec.split(":", 1)
    local = argument.startswith((".", "/", "~")) or (invocation / argument).exists()
    if name == "replay" or local:
        return f"{name}:{_absolute(argument, invocation)}"
    return spec


def _resolve_paths(values: dict[str, Any], invocation: Path) -> None:
    for name, option in option_fields():
        value = values.get(name)
        if not value or option.path is None:
            continue
        if option.path == "path" or (
            option.path == "dataset" and value not in ("hub", "sample") and not value.startswith("hf:")
        ):
            values[name] = _absolute(value, invocation)
        elif option.path == "model":
            values[name] = _model_argument(value, invocation)


def read_config(config: pytest.Config) -> RunConfig:
    """Command line over [tool.mediconfusion] over defaults; relative paths made absolute."""
    pyproject = Path(config.rootpath) / "pyproject.toml"
    try:
        values: dict[str, Any] = read_file_settings(pyproject)
        for text in values.get("gates", ()):
            parse_condition(text)
        for text in config.getoption(DEST + "gates") or ():
            parse_condition(text)
    except ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None
    values["gates_from_file"] = bool(values.get("gates"))
    for name, _ in option_fields():
        value = config.getoption(DEST + name)
        if value is not None:
            values[name] = tuple(value) if name == "gates" else value
            if name == "gates":
                values["gates_from_file"] = False
    if values["gates_from_file"]:
        # Gates kept in the project were written for the whole benchmark (documented in the README).
        values.setdefault("gate_min_pairs", "all")
    values["config_file"] = str(pyproject) if pyproject.is_file() else None
    values.setdefault("results_dir", DEFAULT_RESULTS_DIR)
    _resolve_paths(values, Path(config.invocation_params.dir))
    try:
        return validate(RunConfig.from_dict(values))
    except (ConfigError, TypeError) as exc:
        raise pytest.UsageError(str(exc)) from None
