"""RunConfig: every option of a run as one typed, serialisable value.

Values come from the command line, else from ``[tool.mediconfusion]`` in the
rootdir's pyproject.toml, else from the defaults below. Each field carries its
option's metadata (flag, help, parser, whether the file may set it), so the
command-line options and the accepted pyproject keys are generated from this
one class: a new option is one field. RunConfig is a pydantic model, so its values are
type-checked as it is built (from the command line, the file or a results.json) and
its option metadata sits in each field's ``json_schema_extra``.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from types import UnionType
from typing import TYPE_CHECKING, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mediconfusion_tests.errors import ConfigError
from mediconfusion_tests.scoring.judge import DEFAULT_THRESHOLD
from mediconfusion_tests.scoring.modes import MODES, Mode
from mediconfusion_tests.scoring.parse import PARSERS

if TYPE_CHECKING:
    from collections.abc import Callable

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DEFAULT_IMAGES = "data/images"
DEFAULT_RESULTS_DIR = "reports"
DEFAULT_MAX_NEW_TOKENS = 32
#: --prefix-tokens, --letter-tokens, --generation (models/paper_rules.py says what "paper" is per family).
PREFIX_TOKEN_CHOICES = ("paper", "context")
LETTER_TOKEN_CHOICES = ("paper", "context")
GENERATION_CHOICES = ("greedy", "paper")
ENCODER_SIMILARITY_CHOICES = ("auto", "off")
#: --image-position: the image block before or after the prompt text in API and served requests.
IMAGE_POSITIONS = ("before", "after")
#: "paper": the dtype the original harness loaded the family in (models/paper_rules.py).
DTYPES = ("auto", "bf16", "fp16", "fp32", "paper")
DEVICES = ("auto", "cpu", "cuda")
IMAGE_BACKENDS = ("auto", "pil", "torchvision")
#: Pairs answered together when --batch-size is auto; the model splits them as memory allows.
AUTO_CHUNK_PAIRS = 8
#: Fields whose value is a path, made absolute against the directory pytest was started in.
PathKind = Literal["path", "dataset", "model"]
#: Bounds of options whose large values only burn time or money: image-probe examples per pair (each
#: costs two answers) and retries of one request.
MAX_PROBE_EXAMPLES = 100
MAX_RETRIES = 100


# -- parsers for option values (argparse ``type=``; messages name the value) ------------------------------------------
def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def bounded_int(low: int, high: int) -> Callable[[str], int]:
    """An integer parser accepting low..high, whose message names the range."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number from {low} to {high}, got {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"expected a whole number from {low} to {high}, got {text!r}")
        return value

    return parse


def positive_float(text: str) -> float:
    value = non_negative_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a finite number above 0, got {text!r}")
    return value


def whole_number(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"expected a finite non-negative number, got {text!r}")
    return value


def batch_size_type(text: str) -> int | str:
    return "auto" if text == "auto" else positive_int(text)


def workers_type(text: str) -> int | str:
    return "auto" if text == "auto" else bounded_int(0, 64)(text)


def shard_type(text: str) -> str:
    """I/N with 1 <= I <= N."""
    index, slash, count = text.partition("/")
    if not slash or not index.isdigit() or not count.isdigit() or not 1 <= int(index) <= int(count):
        raise argparse.ArgumentTypeError(f"expected I/N with 1 <= I <= N (e.g. 2/4), got {text!r}")
    return f"{int(index)}/{int(count)}"


def probes_type(text: str) -> str:
    """all, or a comma-separated list of probe names. The names are checked once the run is configured
    (validate), when probes registered by conftest.py files and plugins are known too."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"expected all or a comma-separated list of probes, got {text!r}")
    return ",".join(names)


def min_pairs_type(text: str) -> int | str:
    return "all" if text == "all" else positive_int(text)


@dataclass(frozen=True)
class Option:
    """How a RunConfig field is set: its command-line flag and whether pyproject may set it."""

    help: str
    metavar: str | None = None
    parse: Callable[[str], Any] | None = None
    choices: tuple[str, ...] | None = None
    #: A flag without a value: store_true (``flip=False``) or store_false (``flip=True``).
    switch: bool = False
    flip: bool = False
    repeat: bool = False
    flag: str | None = None
    aliases: tuple[str, ...] = ()
    #: The key in [tool.mediconfusion]; None: command line only.
    file_key: str | None = ""
    #: Resolved against the invocation directory when relative.
    path: PathKind | None = None

    def flags(self, name: str) -> tuple[str, ...]:
        return (self.flag or "--" + name.replace("_", "-"), *self.aliases)

    def key(self, name: str) -> str | None:
        return name if self.file_key == "" else self.file_key

    def __call__(self, schema: dict[str, Any]) -> None:
        """As pydantic's json_schema_extra: the option's help is the field's description in the schema."""
        schema["description"] = self.help


def opt(default: Any, help: str, **details: Any) -> Any:
    """A RunConfig field with its option's metadata."""
    # --gate values arrive as lists from TOML and JSON; every other field is checked strictly.
    strict = False if details.get("repeat") else None
    return Field(default=default, json_schema_extra=Option(help, **details), strict=strict)


def _no_file(default: Any, help: str, **details: Any) -> Any:
    return opt(default, help, file_key=None, **details)


class RunConfig(BaseModel):
    """Every option of a run. Bad values are a ConfigError naming the option when built with keywords."""

    # Strict: a bool is no int, "3" is no number; finite floats only. Keys of other versions are ignored.
    model_config = ConfigDict(frozen=True, strict=True, allow_inf_nan=False, extra="ignore")

    model: str | None = _no_file(
        None,
        "model to test: a name (see --list-models) or name:ARG, e.g. replay:results.json. "
        "Without positional arguments, runs the shipped MediConfusion suite.",
        metavar="SPEC",
        path="model",
    )
    mode: Mode = opt("mc", "answering mode (default: mc)", choices=MODES)
    dataset: str | None = opt(
        None,
        "hub (default: the paper's benchmark), sample (built in), a folder/file holding dataset.json or "
        "dataset.csv, or pairs as a table: hf:ORG/NAME[@REV][:SPLIT], a datasets save_to_disk folder or a "
        "parquet file (docs/data.md)",
        metavar="SRC",
        path="dataset",
    )
    dataset_revision: str | None = opt(None, "hub branch, tag or commit to pin (default: main)", metavar="REV")
    images: str | None = opt(
        None, "benchmark images: DIR/{local id}.jpg or a ROCO tree (default: data/images)", metavar="DIR", path="path"
    )
    limit: int | None = _no_file(
        None,
        "only the first N pairs of the dataset, in its order (the run is marked a subset everywhere)",
        metavar="N",
        parse=positive_int,
    )
    images_in_report: bool = opt(
        True,
        "keep the images out of report.html and the Allure attachments (patient data: only metadata leaves)",
        switch=True,
        flip=True,
        flag="--no-images-in-report",
    )
    allow_missing_images: bool = opt(
        False, "skip pairs whose images are missing or corrupt instead of failing", switch=True
    )
    allow_missing_answers: bool = _no_file(
        False, "replay: skip pairs the file has no answers for instead of failing", switch=True
    )
    answer_parser: str = opt(
        "paper",
        "mc mode: 'paper' (the MediConfusion harness, default), 'robust', or a registered parser",
        metavar="NAME",
    )
    prefix_tokens: str = opt(
        "paper",
        "prefix mode: 'paper' scores the option tokens as the original harness's code for the model's family "
        "did (its sequence, tokens and score; default), 'context' the tokens where prompt and prompt+option part",
        choices=PREFIX_TOKEN_CHOICES,
    )
    letter_tokens: str = opt(
        "paper",
        "greedy mode: 'paper' reads the logits of the letters as the original encoded them alone (default), "
        "'context' every token that reads as the letter after the prompt, with or without a space",
        choices=LETTER_TOKEN_CHOICES,
    )
    generation: str = opt(
        "greedy",
        "mc and freeform decoding: 'greedy' (default, one beam, --max-new-tokens) or 'paper' (the original's "
        "per-model settings: beams, sampling seeded by --seed, penalties, lengths)",
        choices=GENERATION_CHOICES,
    )
    judge_threshold: float = opt(
        DEFAULT_THRESHOLD,
        "freeform: a judge score must lead by TR to decide (default: 3)",
        metavar="TR",
        parse=non_negative_float,
    )
    seed: int = opt(0, "run seed (default: 0)", metavar="N", parse=whole_number)
    gates: tuple[str, ...] = opt(
        (),
        "release gate, repeatable: [Category.]metric OP fraction, e.g. 'set_accuracy>=0.25'. "
        "With a gate, the exit status is the gate's verdict.",
        metavar="EXPR",
        repeat=True,
        flag="--gate",
        file_key="gate",
    )
    gate_min_pairs: int | str | None = opt(
        None,
        "fail the gate when fewer than N pairs were scored ('all': every pair of the dataset). "
        "Default: 'all' for gates from [tool.mediconfusion], off for --gate (a subset then only warns)",
        metavar="N|all",
        parse=min_pairs_type,
    )
    results_dir: str = opt(DEFAULT_RESULTS_DIR, "output folder (default: reports/)", metavar="DIR", path="path")
    keep_runs: int | None = opt(
        None,
        "after a run, keep only the N newest run folders under the output folder (default: keep all)",
        metavar="N",
        parse=positive_int,
    )
    use_store: bool = _no_file(
        True,
        "do not read or write the answer store (--no-cache is the old name)",
        switch=True,
        flip=True,
        flag="--no-store",
        aliases=("--no-cache",),
    )
    answer_store: str | None = _no_file(
        None, "SQLite answer store (default: RESULTS_DIR/answers.sqlite)", metavar="PATH", path="path"
    )
    max_new_tokens: int = opt(
        DEFAULT_MAX_NEW_TOKENS, "generation length for mc and freeform (default: 32)", metavar="N", parse=positive_int
    )
    device: str = opt("auto", "where local models run (default: auto)", choices=DEVICES)
    model_revision: str | None = _no_file(None, "checkpoint branch, tag or commit", metavar="REV")
    dtype: str | None = opt(
        None,
        "weights dtype: auto (bf16/fp16 on GPU, fp32 on CPU; a preset's own), bf16, fp16, fp32, or paper (the "
        "dtype the original harness loaded the family in, e.g. fp32 for LLaVA-NeXT, bf16 for Llama 3.2 Vision; "
        "scores then computed in it). Default: paper when --prefix-tokens, --letter-tokens or --generation is "
        "paper, else auto",
        choices=DTYPES,
    )
    device_map: str | None = _no_file(
        None, "transformers device_map (e.g. auto) for models larger than one GPU", metavar="MAP"
    )
    attn_implementation: str | None = _no_file(None, "e.g. sdpa, eager, flash_attention_2", metavar="IMPL")
    image_backend: str = opt(
        "auto",
        "transformers checkpoints: whose image processor makes the pixels, pil or torchvision (about twice as "
        "fast per image, different pixels). Default auto: pil for a family the original harness ran while any "
        "reading follows it (--prefix-tokens, --letter-tokens or --generation paper), as the original's were; "
        "else transformers' choice (torchvision where installed)",
        choices=IMAGE_BACKENDS,
    )
    trust_remote_code: bool = _no_file(
        False, "allow checkpoints that ship their own model code (off by default)", switch=True
    )
    batch_size: int | str = opt(
        "auto",
        "images per forward; batches span pairs (default: auto, backing off on out-of-memory)",
        metavar="N|auto",
        parse=batch_size_type,
    )
    junit_cases: str = opt(
        "outcomes",
        "what --junitxml records for pair cases: outcomes (every confused, wrong or invalid pair a failure; "
        "default) or gate (with --gate: such expected benchmark misses pass, their outcome kept in properties, "
        "and one 'release gate' case carries the verdict; model errors stay failures)",
        choices=("outcomes", "gate"),
    )
    encoder_similarity: str = opt(
        "auto",
        "record per pair the cosine of its two images in the model's own vision features (and the reference "
        "encoder's), with a chart of confusion against it: auto (local models with a vision tower; default) or off",
        choices=ENCODER_SIMILARITY_CHOICES,
    )
    similarity_reference: str = opt(
        "auto",
        "--encoder-similarity's reference encoder: auto (DINOv2 when its weights are already on this machine; "
        "default), none, or an encoder spec of mine-pairs (dinov2, hf:PATH, python:MODULE:FUNCTION...)",
        metavar="SPEC",
    )
    judge: str | None = opt(
        None,
        "freeform: the model that scores answers 1..10 (default: gpt-4o for models whose answers carry no scores)",
        metavar="SPEC",
        path="model",
    )
    concurrency: int = opt(
        8, "API and served models: requests in flight per worker (default: 8)", metavar="N", parse=positive_int
    )
    image_position: str | None = opt(
        None,
        "API and served models: the image before or after the prompt text in the request (default: the "
        "backend's: after for openai and gemini, before for anthropic, as the original harness sent them; "
        "before for openai-compatible servers, the order LLaVA-style chat templates expect)",
        choices=IMAGE_POSITIONS,
    )
    request_timeout: float = opt(
        120.0,
        "API and served models: seconds per request before it is retried (default: 120)",
        metavar="S",
        parse=positive_float,
    )
    max_retries: int = opt(
        6,
        f"API and served models: retries of a request on 429, 5xx and timeouts, with backoff (default: 6, "
        f"at most {MAX_RETRIES})",
        metavar="N",
        parse=bounded_int(0, MAX_RETRIES),
    )
    max_requests: int | None = opt(
        None,
        "API and served models: stop the run cleanly after N requests in all (partial results are kept)",
        metavar="N",
        parse=positive_int,
    )
    max_cost: float | None = opt(
        None,
        "API models: stop the run cleanly once the spend reaches USD (for models whose prices are known)",
        metavar="USD",
        parse=non_negative_float,
    )
    env_file: str | None = _no_file(
        None,
        "read API keys from this .env file (KEY=value lines); keys are never written anywhere",
        metavar="PATH",
        path="path",
    )
    shard: str | None = _no_file(
        None,
        "run shard I of N (1-based, e.g. 2/4): a stable slice of the pairs, balanced by category; "
        "combine the shards with `mediconfusion merge`",
        metavar="I/N",
        parse=shard_type,
    )
    probes: str | None = opt(
        None,
        "robustness probes beside the benchmark: all, or some of order,paraphrase,image (each pair also asked "
        "with its options swapped, in the dataset's paraphrase, and with perturbed images); gate on them with "
        "e.g. --gate 'order.consistency>=0.9'; -m 'not probe' leaves them out",
        metavar="LIST",
        parse=probes_type,
    )
    probe_examples: int = opt(
        3,
        f"image probe: perturbed examples per pair drawn by hypothesis (default: 3, at most {MAX_PROBE_EXAMPLES}; "
        "each costs two answers)",
        metavar="N",
        parse=bounded_int(1, MAX_PROBE_EXAMPLES),
    )
    llama_path: str | None = opt(
        None,
        "med-flamingo: the LLaMA-7B it was trained on, a transformers-format folder (the authors': "
        "decapoda-research/llama-7b-hf)",
        metavar="DIR",
        path="path",
    )
    few_shot_dir: str | None = opt(
        None,
        "med-flamingo: folder with the paper's three few-shot example images (PMC1064097_F2.jpg, "
        "PMC1065025_F1.jpg, PMC1087855_F3.jpg, from the original harness's data); without it, zero-shot",
        metavar="DIR",
        path="path",
    )
    prompts: str | None = opt(None, "prompt file in the MediConfusion paper's format", metavar="FILE", path="path")
    preprocess_workers: int | str = opt(
        "auto",
        "local models: processes that decode and preprocess the next batch's images while the model computes "
        "(same tensors, so the same answers). Default auto: none on a CPU, where they would take the model's "
        "cores; on a GPU the host's cores per xdist worker less one, at most 8",
        metavar="N|auto",
        parse=workers_type,
    )
    threads_per_worker: int | None = opt(
        None,
        "CPU threads per xdist worker (default: the usable cores divided by the workers, unless "
        "OMP_NUM_THREADS is set)",
        metavar="N",
        parse=positive_int,
    )
    gpus_per_worker: int = opt(
        1,
        "GPUs given to each xdist worker (default: 1); -n auto then starts one worker per K GPUs",
        metavar="K",
        parse=positive_int,
    )
    temperature: float = _no_file(
        0.0, "sampling temperature (default: 0, greedy decoding)", metavar="T", parse=non_negative_float
    )
    top_p: float | None = _no_file(None, "nucleus sampling (with --temperature)", metavar="P", parse=non_negative_float)
    baseline: str | None = opt(
        None,
        "compare pair by pair with a previous run (e.g. the released model's results.json)",
        metavar="RESULTS.json",
        path="path",
    )
    alpha: float = opt(0.05, "significance level (default 0.05)", metavar="A", parse=non_negative_float)
    fail_on_significant_regression: bool = opt(
        False,
        "gate: fail when McNemar's test finds fewer set-correct pairs than the baseline at p < --alpha",
        switch=True,
    )
    max_regressed_pairs: int | None = opt(
        None,
        "gate: fail when more than N pairs the baseline got right are now wrong",
        metavar="N",
        parse=whole_number,
    )
    allow_baseline_mismatch: bool = _no_file(
        False,
        "compare even when the baseline's dataset, mode, prompts or pairs differ (reported loudly)",
        switch=True,
    )
    #: Derived, not options: where the file settings came from; whether the gates did.
    config_file: str | None = None
    gates_from_file: bool = False

    if not TYPE_CHECKING:  # mypy keeps pydantic's typed __init__ (its plugin): keywords are checked statically

        def __init__(self, **values: Any) -> None:
            try:
                super().__init__(**values)
            except ValidationError as exc:
                raise config_error(exc) from None

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunConfig:
        return cls(**data)

    def but(self, **changes: Any) -> RunConfig:
        """A copy with some settings changed, checked like any other."""
        return RunConfig(**{**self.model_dump(), **changes})

    @property
    def probe_names(self) -> tuple[str, ...]:
        return tuple(self.probes.split(",")) if self.probes else ()

    @property
    def chunk_pairs(self) -> int:
        """Pairs per scheduling chunk: a batch holds two images per pair; API models keep --concurrency
        requests in flight, so a chunk holds at least that many pairs."""
        if isinstance(self.batch_size, int):
            return max(1, self.batch_size // 2)
        return max(AUTO_CHUNK_PAIRS, self.concurrency)

    @property
    def effective_dtype(self) -> str:
        """--dtype as given, else paper while any reading follows the original harness, else auto."""
        if self.dtype is not None:
            return self.dtype
        return "paper" if self.paper_readings else "auto"

    @property
    def paper_readings(self) -> bool:
        """Some reading follows the original harness: --prefix-tokens, --letter-tokens or --generation paper."""
        return "paper" in (self.prefix_tokens, self.letter_tokens, self.generation)

    def answer_store_path(self) -> Path:
        return Path(self.answer_store) if self.answer_store else Path(self.results_dir) / "answers.sqlite"


def option_fields() -> list[tuple[str, Option]]:
    """Every RunConfig field that is an option, with its metadata, in declaration order."""
    return [
        (name, info.json_schema_extra)
        for name, info in RunConfig.model_fields.items()
        if isinstance(info.json_schema_extra, Option)
    ]


def file_keys() -> dict[str, str]:
    """[tool.mediconfusion] key -> RunConfig field. The model is deliberately not among them:
    a project's plain `pytest` must not turn into a benchmark run."""
    return {key: name for name, option in option_fields() if (key := option.key(name)) is not None}


def _describe(kind: Any) -> str:
    if get_origin(kind) in (Union, UnionType):
        return " or ".join(_describe(arg) for arg in get_args(kind) if arg is not type(None))
    if get_origin(kind) is tuple:
        return "a list of strings"
    if get_origin(kind) is Literal:
        return "one of " + ", ".join(map(str, get_args(kind)))
    names = {bool: "true or false", int: "an integer", float: "a finite number", str: "a string"}
    return names.get(kind, str(kind))


def _problem(exc: ValidationError) -> tuple[str, Any, str]:
    """The first field a ValidationError names, the value it got, and the kind of error."""
    error = exc.errors()[0]
    name = str(error["loc"][0]) if error["loc"] else ""
    return name, error.get("input"), str(error["type"])


def config_error(exc: ValidationError) -> ConfigError:
    """A ValidationError of RunConfig as the sentence a user reads."""
    name, value, kind = _problem(exc)
    info = RunConfig.model_fields.get(name)
    if info is None:
        return ConfigError(str(exc))
    if kind == "literal_error":
        return ConfigError(f"unknown {name} {value!r}; choose from {', '.join(map(str, get_args(info.annotation)))}")
    return ConfigError(f"{name} must be {_describe(info.annotation)}, got {type(value).__name__} {value!r:.80}")


def _type_problem(name: str, value: object) -> bool:
    """Whether a value read from a file has not the field's type (choices are checked with the rest)."""
    if get_origin(RunConfig.model_fields[name].annotation) is Literal:
        return False
    try:
        RunConfig.model_validate({name: value})  # through __init__: a ConfigError
    except ConfigError:
        return True
    return False


def read_file_settings(path: Path) -> dict[str, Any]:
    """The [tool.mediconfusion] table of a pyproject.toml, keys normalised to RunConfig names, types checked."""
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read [tool.mediconfusion] ({exc})") from exc
    table = data.get("tool", {}).get("mediconfusion", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [tool.mediconfusion] must be a table")
    keys = file_keys()
    settings: dict[str, Any] = {}
    for key, value in table.items():
        name = keys.get(key.replace("-", "_"))
        if name is None:
            raise ConfigError(
                f"{path}: unknown key {key!r} in [tool.mediconfusion]; allowed: {', '.join(sorted(keys))}"
            )
        if name == "gates":
            value = [value] if isinstance(value, str) else value
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError(
                    f"{path}: [tool.mediconfusion] gate must be a string or a list of strings, got {value!r:.80}"
                )
            value = tuple(value)
        if _type_problem(name, value):
            raise ConfigError(
                f"{path}: [tool.mediconfusion] {key} must be {_describe(RunConfig.model_fields[name].annotation)}, "
                f"got {type(value).__name__} {value!r:.80}"
            )
        settings[name] = value
    return settings


def validate(config: RunConfig) -> RunConfig:
    """Check values that argparse cannot (those from the config file included)."""
    if config.answer_parser not in PARSERS:
        raise ConfigError(f"unknown answer parser {config.answer_parser!r}; choose from {', '.join(PARSERS)}")
    if config.device not in DEVICES:
        raise ConfigError(f"unknown device {config.device!r}; choose from {', '.join(DEVICES)}")
    if config.probes is not None:
        from mediconfusion_tests.scoring.probes import parse_probes

        try:
            config = config.but(probes=",".join(parse_probes(str(config.probes))))
        except ValueError as exc:
            raise ConfigError(f"probes: {exc}") from None
    if not 1 <= config.probe_examples <= MAX_PROBE_EXAMPLES:
        raise ConfigError(
            f"probe examples must be a whole number from 1 to {MAX_PROBE_EXAMPLES}, got {config.probe_examples!r}"
        )
    if not 0 <= config.max_retries <= MAX_RETRIES:
        raise ConfigError(f"max retries must be a whole number from 0 to {MAX_RETRIES}, got {config.max_retries!r}")
    if config.request_timeout <= 0:
        raise ConfigError(f"request timeout must be a number of seconds above 0, got {config.request_timeout!r}")
    if config.max_new_tokens < 1:
        raise ConfigError(f"max_new_tokens must be a positive integer, got {config.max_new_tokens!r}")
    if config.judge_threshold < 0:
        raise ConfigError(f"judge threshold must be a non-negative number, got {config.judge_threshold!r}")
    if config.batch_size != "auto" and (not isinstance(config.batch_size, int) or config.batch_size < 1):
        raise ConfigError(f"batch size must be a positive integer or 'auto', got {config.batch_size!r}")
    if config.dtype is not None and config.dtype not in DTYPES:
        raise ConfigError(f"unknown dtype {config.dtype!r}; choose from {', '.join(DTYPES)}")
    if config.gpus_per_worker < 1:
        raise ConfigError(f"gpus per worker must be a positive integer, got {config.gpus_per_worker!r}")
    if config.temperature < 0 or (config.top_p is not None and not 0 < config.top_p <= 1):
        raise ConfigError("temperature must be >= 0 and top-p in (0, 1]")
    if not 0 < config.alpha < 1:
        raise ConfigError(f"alpha must be between 0 and 1, got {config.alpha!r}")
    minimum = config.gate_min_pairs
    if minimum is not None and minimum != "all" and (not isinstance(minimum, int) or minimum < 1):
        raise ConfigError(f"gate min pairs must be a positive integer or 'all', got {minimum!r}")
    if config.max_regressed_pairs is not None and config.max_regressed_pairs < 0:
        raise ConfigError(f"max regressed pairs must be >= 0, got {config.max_regressed_pairs!r}")
    needs_baseline = config.fail_on_significant_regression or config.max_regressed_pairs is not None
    if needs_baseline and not config.baseline:
        raise ConfigError(
            "--fail-on-significant-regression and --max-regressed-pairs compare with --baseline RESULTS.json"
        )
    return config
