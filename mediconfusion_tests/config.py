"""RunConfig: every option of a run as one serialisable value.

Values come from the command line, else from ``[tool.mediconfusion]`` in the
rootdir's pyproject.toml, else from the defaults below.
"""

from __future__ import annotations

import math
import sys
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from types import UnionType
from typing import Any, Union, get_args, get_origin, get_type_hints

from mediconfusion_tests.errors import ConfigError
from mediconfusion_tests.models.base import MODES
from mediconfusion_tests.scoring.judge import DEFAULT_THRESHOLD
from mediconfusion_tests.scoring.parse import PARSERS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DEFAULT_IMAGES = "data/images"
DEFAULT_RESULTS_DIR = "reports"
DEFAULT_MAX_NEW_TOKENS = 32
DTYPES = ("auto", "bf16", "fp16", "fp32")
#: Pairs answered together when --batch-size is auto; the model splits them as memory allows.
AUTO_CHUNK_PAIRS = 8


@dataclass(frozen=True)
class RunConfig:
    model: str | None = None
    mode: str = "mc"
    dataset: str | None = None
    dataset_revision: str | None = None
    images: str | None = None
    allow_missing_images: bool = False
    allow_missing_answers: bool = False
    answer_parser: str = "paper"
    judge_threshold: float = DEFAULT_THRESHOLD
    seed: int = 0
    gates: tuple[str, ...] = ()
    results_dir: str = DEFAULT_RESULTS_DIR
    use_cache: bool = True
    answer_store: str | None = None
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS
    device: str = "auto"
    model_revision: str | None = None
    dtype: str = "auto"
    device_map: str | None = None
    attn_implementation: str | None = None
    trust_remote_code: bool = False
    batch_size: int | str = "auto"
    judge: str | None = None
    prompts: str | None = None
    gpus_per_worker: int = 1
    temperature: float = 0.0
    top_p: float | None = None
    baseline: str | None = None
    alpha: float = 0.05
    fail_on_significant_regression: bool = False
    max_regressed_pairs: int | None = None
    allow_baseline_mismatch: bool = False
    #: Fewest scored pairs a gate may be judged on: a number, "all" (every pair of the dataset) or None.
    gate_min_pairs: int | str | None = None
    config_file: str | None = None
    #: The gates came from [tool.mediconfusion], written for the whole benchmark.
    gates_from_file: bool = False

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["gates"] = list(self.gates)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunConfig:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["gates"] = tuple(values.get("gates", ()))
        return cls(**values)

    @property
    def chunk_pairs(self) -> int:
        """Pairs per scheduling chunk: a batch holds two images per pair."""
        if isinstance(self.batch_size, int):
            return max(1, self.batch_size // 2)
        return AUTO_CHUNK_PAIRS

    def answer_store_path(self) -> Path:
        return Path(self.answer_store) if self.answer_store else Path(self.results_dir) / "answers.sqlite"


#: Keys accepted in [tool.mediconfusion]; "gate" may be a string or a list. The model is
#: deliberately not among them: a project's plain `pytest` must not turn into a benchmark run.
FILE_KEYS = {
    "mode": "mode",
    "dataset": "dataset",
    "dataset_revision": "dataset_revision",
    "images": "images",
    "allow_missing_images": "allow_missing_images",
    "answer_parser": "answer_parser",
    "judge_threshold": "judge_threshold",
    "seed": "seed",
    "gate": "gates",
    "results_dir": "results_dir",
    "max_new_tokens": "max_new_tokens",
    "device": "device",
    "dtype": "dtype",
    "batch_size": "batch_size",
    "judge": "judge",
    "prompts": "prompts",
    "gpus_per_worker": "gpus_per_worker",
    "baseline": "baseline",
    "alpha": "alpha",
    "fail_on_significant_regression": "fail_on_significant_regression",
    "max_regressed_pairs": "max_regressed_pairs",
    "gate_min_pairs": "gate_min_pairs",
}


def _describe(kind: Any) -> str:
    if get_origin(kind) in (Union, UnionType):
        return " or ".join(_describe(arg) for arg in get_args(kind) if arg is not type(None))
    if get_origin(kind) is tuple:
        return "a list of strings"
    return {bool: "true or false", int: "an integer", float: "a finite number", str: "a string"}.get(kind, str(kind))


def _fits(value: object, kind: Any) -> bool:
    if get_origin(kind) in (Union, UnionType):
        return any(_fits(value, arg) for arg in get_args(kind))
    if get_origin(kind) is tuple:
        return isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)
    if kind is type(None):
        return value is None
    if kind is bool:
        return isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return isinstance(value, kind) if isinstance(kind, type) else True


def _field_types() -> dict[str, Any]:
    return get_type_hints(RunConfig)


def read_file_settings(path: Path) -> dict[str, Any]:
    """The [tool.mediconfusion] table of a pyproject.toml, keys normalised to RunConfig names."""
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read [tool.mediconfusion] ({exc})") from exc
    table = data.get("tool", {}).get("mediconfusion", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [tool.mediconfusion] must be a table")
    settings: dict[str, Any] = {}
    for key, value in table.items():
        name = FILE_KEYS.get(key.replace("-", "_"))
        if name is None:
            raise ConfigError(
                f"{path}: unknown key {key!r} in [tool.mediconfusion]; allowed: {', '.join(sorted(FILE_KEYS))}"
            )
        if name == "gates":
            value = [value] if isinstance(value, str) else value
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError(
                    f"{path}: [tool.mediconfusion] gate must be a string or a list of strings, got {value!r:.80}"
                )
            value = tuple(value)
        kind = _field_types()[name]
        if not _fits(value, kind):
            raise ConfigError(
                f"{path}: [tool.mediconfusion] {key} must be {_describe(kind)}, "
                f"got {type(value).__name__} {value!r:.80}"
            )
        settings[name] = value
    return settings


def validate(config: RunConfig) -> RunConfig:
    """Check values that argparse cannot (those from the config file included)."""
    if config.mode not in MODES:
        raise ConfigError(f"unknown mode {config.mode!r}; choose from {', '.join(MODES)}")
    if config.answer_parser not in PARSERS:
        raise ConfigError(f"unknown answer parser {config.answer_parser!r}; choose from {', '.join(PARSERS)}")
    if not isinstance(config.seed, int) or isinstance(config.seed, bool):
        raise ConfigError(f"seed must be an integer, got {config.seed!r}")
    if not isinstance(config.max_new_tokens, int) or config.max_new_tokens < 1:
        raise ConfigError(f"max_new_tokens must be a positive integer, got {config.max_new_tokens!r}")
    if not isinstance(config.judge_threshold, (int, float)) or config.judge_threshold < 0:
        raise ConfigError(f"judge threshold must be a non-negative number, got {config.judge_threshold!r}")
    if config.batch_size != "auto" and (not isinstance(config.batch_size, int) or config.batch_size < 1):
        raise ConfigError(f"batch size must be a positive integer or 'auto', got {config.batch_size!r}")
    if config.dtype not in DTYPES:
        raise ConfigError(f"unknown dtype {config.dtype!r}; choose from {', '.join(DTYPES)}")
    if not isinstance(config.gpus_per_worker, int) or config.gpus_per_worker < 1:
        raise ConfigError(f"gpus per worker must be a positive integer, got {config.gpus_per_worker!r}")
    for name in ("judge_threshold", "temperature", "top_p", "alpha"):
        value = getattr(config, name)
        if value is not None and not _fits(value, float):
            raise ConfigError(f"{name.replace('_', ' ')} must be a finite number, got {value!r}")
    if config.temperature < 0 or (config.top_p is not None and not 0 < config.top_p <= 1):
        raise ConfigError("temperature must be >= 0 and top-p in (0, 1]")
    minimum = config.gate_min_pairs
    if minimum is not None and minimum != "all" and (not _fits(minimum, int) or int(minimum) < 1):
        raise ConfigError(f"gate min pairs must be a positive integer or 'all', got {minimum!r}")
    if not 0 < config.alpha < 1:
        raise ConfigError(f"alpha must be between 0 and 1, got {config.alpha!r}")
    if config.max_regressed_pairs is not None and config.max_regressed_pairs < 0:
        raise ConfigError(f"max regressed pairs must be >= 0, got {config.max_regressed_pairs!r}")
    needs_baseline = config.fail_on_significant_regression or config.max_regressed_pairs is not None
    if needs_baseline and not config.baseline:
        raise ConfigError(
            "--fail-on-significant-regression and --max-regressed-pairs compare with --baseline RESULTS.json"
        )
    return config
