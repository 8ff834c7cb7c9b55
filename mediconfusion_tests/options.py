"""Command-line options (one group, one prefix of dests) and their merge into a RunConfig."""

from __future__ import annotations

import argparse
import math
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

from mediconfusion_tests.config import (
    DEFAULT_RESULTS_DIR,
    DTYPES,
    RunConfig,
    read_file_settings,
    validate,
)
from mediconfusion_tests.errors import ConfigError
from mediconfusion_tests.gate import parse_condition
from mediconfusion_tests.models.base import MODES
from mediconfusion_tests.scoring.parse import PARSERS

DEST = "mediconfusion_"
DEVICES = ("auto", "cpu", "cuda")


def gate_type(text: str) -> str:
    try:
        parse_condition(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"expected a finite non-negative number, got {text!r}")
    return value


def min_pairs_type(text: str) -> int | str:
    return "all" if text == "all" else positive_int(text)


def batch_size_type(text: str) -> int | str:
    return "auto" if text == "auto" else positive_int(text)


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("mediconfusion", "MediConfusion benchmark (mediconfusion-tests)")
    add = group.addoption
    add(
        "--model",
        dest=DEST + "model",
        metavar="SPEC",
        help="model to test: a name (see --list-models) or name:ARG, e.g. replay:results.json. "
        "Without positional arguments, runs the shipped MediConfusion suite.",
    )
    add("--list-models", dest=DEST + "list_models", action="store_true", help="list known models and exit")
    add("--mode", dest=DEST + "mode", choices=MODES, help="answering mode (default: mc)")
    add(
        "--dataset",
        dest=DEST + "dataset",
        metavar="SRC",
        help="hub (default), sample, or a folder/file holding dataset.json or dataset.csv",
    )
    add(
        "--dataset-revision",
        dest=DEST + "dataset_revision",
        metavar="REV",
        help="hub branch, tag or commit to pin (default: main)",
    )
    add(
        "--images",
        dest=DEST + "images",
        metavar="DIR",
        help="benchmark images: DIR/{local id}.jpg or a ROCO tree (default: data/images)",
    )
    add(
        "--allow-missing-images",
        dest=DEST + "allow_missing_images",
        action="store_true",
        default=None,
        help="skip pairs whose images are missing or corrupt instead of failing",
    )
    add(
        "--allow-missing-answers",
        dest=DEST + "allow_missing_answers",
        action="store_true",
        default=None,
        help="replay: skip pairs the file has no answers for instead of failing",
    )
    add(
        "--answer-parser",
        dest=DEST + "answer_parser",
        choices=tuple(PARSERS),
        help="mc mode: 'paper' (the MediConfusion harness, default) or 'robust'",
    )
    add(
        "--judge-threshold",
        dest=DEST + "judge_threshold",
        type=non_negative_float,
        metavar="TR",
        help="freeform: a judge score must lead by TR to decide (default: 3)",
    )
    add("--seed", dest=DEST + "seed", type=int, metavar="N", help="run seed (default: 0)")
    add(
        "--gate",
        dest=DEST + "gates",
        action="append",
        type=gate_type,
        metavar="EXPR",
        help="release gate, repeatable: [Category.]metric OP fraction, e.g. 'set_accuracy>=0.25'. "
        "With a gate, the exit status is the gate's verdict.",
    )
    add(
        "--gate-min-pairs",
        dest=DEST + "gate_min_pairs",
        type=min_pairs_type,
        metavar="N|all",
        help="fail the gate when fewer than N pairs were scored ('all': every pair of the dataset). "
        "Default: 'all' for gates from [tool.mediconfusion], off for --gate (a subset then only warns)",
    )
    add("--results-dir", dest=DEST + "results_dir", metavar="DIR", help="output folder (default: reports/)")
    add(
        "--no-cache",
        dest=DEST + "no_cache",
        action="store_true",
        help="do not read or write the answer store",
    )
    add(
        "--answer-store",
        dest=DEST + "answer_store",
        metavar="PATH",
        help="SQLite answer store (default: RESULTS_DIR/answers.sqlite)",
    )
    add(
        "--max-new-tokens",
        dest=DEST + "max_new_tokens",
        type=positive_int,
        metavar="N",
        help="generation length for mc and freeform (default: 32)",
    )
    add("--device", dest=DEST + "device", choices=DEVICES, help="where local models run (default: auto)")
    add("--model-revision", dest=DEST + "model_revision", metavar="REV", help="checkpoint branch, tag or commit")
    add("--dtype", dest=DEST + "dtype", choices=DTYPES, help="weights dtype (default: auto, bf16/fp16 on GPU)")
    add(
        "--device-map",
        dest=DEST + "device_map",
        metavar="MAP",
        help="transformers device_map (e.g. auto) for models larger than one GPU",
    )
    add(
        "--attn-implementation",
        dest=DEST + "attn_implementation",
        metavar="IMPL",
        help="e.g. sdpa, eager, flash_attention_2",
    )
    add(
        "--trust-remote-code",
        dest=DEST + "trust_remote_code",
        action="store_true",
        default=None,
        help="allow checkpoints that ship their own model code (off by default)",
    )
    add(
        "--batch-size",
        dest=DEST + "batch_size",
        type=batch_size_type,
        metavar="N|auto",
        help="images per forward; batches span pairs (default: auto, backing off on out-of-memory)",
    )
    add("--judge", dest=DEST + "judge", metavar="SPEC", help="freeform: the model that scores answers 1..10")
    add("--prompts", dest=DEST + "prompts", metavar="FILE", help="prompt file in the MediConfusion paper's format")
    add(
        "--gpus-per-worker",
        dest=DEST + "gpus_per_worker",
        type=positive_int,
        metavar="K",
        help="GPUs given to each xdist worker (default: 1); -n auto then starts one worker per K GPUs",
    )
    add(
        "--baseline",
        dest=DEST + "baseline",
        metavar="RESULTS.json",
        help="compare pair by pair with a previous run (e.g. the released model's results.json)",
    )
    add(
        "--fail-on-significant-regression",
        dest=DEST + "fail_on_significant_regression",
        action="store_true",
        default=None,
        help="gate: fail when McNemar's test finds fewer set-correct pairs than the baseline at p < --alpha",
    )
    add("--alpha", dest=DEST + "alpha", type=non_negative_float, metavar="A", help="significance level (default 0.05)")
    add(
        "--max-regressed-pairs",
        dest=DEST + "max_regressed_pairs",
        type=int,
        metavar="N",
        help="gate: fail when more than N pairs the baseline got right are now wrong",
    )
    add(
        "--allow-baseline-mismatch",
        dest=DEST + "allow_baseline_mismatch",
        action="store_true",
        default=None,
        help="compare even when the baseline's dataset, mode, prompts or pairs differ (reported loudly)",
    )
    add(
        "--temperature",
        dest=DEST + "temperature",
        type=non_negative_float,
        metavar="T",
        help="sampling temperature (default: 0, greedy decoding)",
    )
    add(
        "--top-p",
        dest=DEST + "top_p",
        type=non_negative_float,
        metavar="P",
        help="nucleus sampling (with --temperature)",
    )


#: RunConfig fields that come from an option of the same name (the rest are derived).
_OPTION_FIELDS = tuple(
    f.name for f in fields(RunConfig) if f.name not in ("gates", "use_cache", "config_file", "gates_from_file")
)


def _cli(config: pytest.Config, name: str) -> Any:
    return config.getoption(DEST + name)


def _absolute_argument(spec: str | None, invocation: Path) -> str | None:
    """replay:PATH and a local hf:PATH are files relative to where pytest started."""
    if not spec or ":" not in spec:
        return spec
    name, argument = spec.split(":", 1)
    local = argument.startswith((".", "/", "~")) or (invocation / argument).exists()
    if name == "replay" or (name == "hf" and local):
        return f"{name}:{(invocation / Path(argument).expanduser()).resolve()}"
    return spec


def read_config(config: pytest.Config) -> RunConfig:
    """Command line over [tool.mediconfusion] over defaults; relative paths made absolute."""
    pyproject = Path(config.rootpath) / "pyproject.toml"
    try:
        values: dict[str, Any] = read_file_settings(pyproject)
        for file_gate in values.get("gates", ()):
            parse_condition(file_gate)
    except ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None
    values["gates_from_file"] = bool(values.get("gates"))
    for name in _OPTION_FIELDS:
        value = _cli(config, name)
        if value is not None:
            values[name] = value
    if _cli(config, "gates"):
        values["gates"] = tuple(_cli(config, "gates"))
        values["gates_from_file"] = False
    if values["gates_from_file"]:
        # Gates kept in the project were written for the whole benchmark (documented in the README).
        values.setdefault("gate_min_pairs", "all")
    values["use_cache"] = not _cli(config, "no_cache")
    values["config_file"] = str(pyproject) if pyproject.is_file() else None
    invocation = Path(config.invocation_params.dir)
    values["results_dir"] = str((invocation / values.get("results_dir", DEFAULT_RESULTS_DIR)).resolve())
    for name in ("images", "answer_store", "prompts", "baseline"):
        if values.get(name):
            values[name] = str((invocation / values[name]).resolve())
    dataset = values.get("dataset")
    if dataset and dataset not in ("hub", "sample"):
        values["dataset"] = str((invocation / dataset).resolve())
    for name in ("model", "judge"):
        values[name] = _absolute_argument(values.get(name), invocation)
    try:
        return validate(RunConfig.from_dict(values))
    except (ConfigError, TypeError) as exc:
        raise pytest.UsageError(str(exc)) from None
