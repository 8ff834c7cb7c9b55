"""The controller's checks before any model loads, and what it hands to every worker.

prepare_run() parses the model spec, loads and validates the dataset, checks
every image and lets the model entry validate its input (a replay file). The
resulting RunPlan is plain data: it travels to xdist workers in workerinput,
so each worker collects exactly the same pairs without repeating the checks.
"""

from __future__ import annotations

import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mediconfusion_tests.config import DEFAULT_IMAGES, RunConfig
from mediconfusion_tests.data.hub import MODEL_PLACEHOLDER
from mediconfusion_tests.data.images import (
    ImageLayout,
    check_images,
    detect_layout,
    distinct_images,
    file_sha256,
    pairs_by_image,
    problems_message,
)
from mediconfusion_tests.data.sources import DatasetInfo, load_pairs, resolve_dataset
from mediconfusion_tests.errors import ConfigError, DataError
from mediconfusion_tests.prompts import check_prompt_file, prompt_source
from mediconfusion_tests.results.comparison import Identity, identity_mismatches
from mediconfusion_tests.results.document import ResultsDocument, read_document
from mediconfusion_tests.results.gate import Condition, parse_condition, resolve_categories
from mediconfusion_tests.run.preflight import Checks
from mediconfusion_tests.run.shards import select
from mediconfusion_tests.run.store import check_store_file
from mediconfusion_tests.scoring.metrics import category_names

if TYPE_CHECKING:
    from collections.abc import Sequence

    from mediconfusion_tests.data.schema import Pair
    from mediconfusion_tests.models.base import ModelSpec
    from mediconfusion_tests.models.registry import Registry


@dataclass(frozen=True)
class RunPlan:
    run_id: str
    config: RunConfig
    dataset: DatasetInfo
    layout: ImageLayout | None
    skipped: dict[str, str] = field(default_factory=dict)
    categories: tuple[str, ...] = ()
    gpus: tuple[str, ...] = ()
    #: What the checks changed without failing (category spellings merged), for results.json.
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "config": self.config.to_dict(),
            "dataset": self.dataset.model_dump(),
            "layout": None if self.layout is None else vars(self.layout),
            "skipped": dict(self.skipped),
            "categories": list(self.categories),
            "gpus": list(self.gpus),
            "warnings": list(self.warnings),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunPlan:
        layout = data.get("layout")
        return cls(
            run_id=data["run_id"],
            config=RunConfig.from_dict(data["config"]),
            dataset=DatasetInfo.model_validate(data["dataset"]),
            layout=None if layout is None else ImageLayout(**layout),
            skipped=dict(data.get("skipped", {})),
            categories=tuple(data.get("categories", ())),
            gpus=tuple(data.get("gpus", ())),
            warnings=tuple(data.get("warnings", ())),
        )

    def load_pairs(self) -> list[Pair]:
        """The plan's pairs, re-read from the exact file the controller checked."""
        info = resolve_file_unchanged(self.dataset)
        return load_pairs(info)


def resolve_file_unchanged(info: DatasetInfo) -> DatasetInfo:
    path = Path(info.file)
    if not path.is_file() or file_sha256(path) != info.sha256:
        raise DataError(f"{path}: the dataset file changed or vanished after the run started")
    return info


def make_run_id(model: str, mode: str, now: float | None = None) -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    slug = re.sub(r"[^A-Za-z0-9]+", "-", Path(model).name if ":" in model else model).strip("-")[:40]
    return f"{stamp}-{slug or 'model'}-{mode}"


def _images_root(config: RunConfig, info: DatasetInfo) -> Path:
    if config.images:
        return Path(config.images)
    if info.images:
        return Path(info.images)
    beside = Path(info.file).parent / "images"
    return beside if beside.is_dir() else Path(DEFAULT_IMAGES)


def _image_skips(layout: ImageLayout, pairs: Sequence[Pair], allow_missing: bool, info: DatasetInfo) -> dict[str, str]:
    problems = check_images(layout, distinct_images(pairs))
    if not problems:
        return {}
    if not allow_missing:
        image_dict = Path(info.file).parent / "image_dict.json"
        local = info.source == "path" and image_dict.is_file()
        raise DataError(problems_message(layout, problems, pairs, image_dict if local else None))
    skips: dict[str, str] = {}
    for local_id, users in pairs_by_image(pairs).items():
        if local_id in problems:
            for pair_id in users:
                skips.setdefault(pair_id, f"image {local_id} {problems[local_id]}")
    return skips


def check_shard(config: RunConfig, pairs: Sequence[Pair]) -> None:
    """A --shard that would be dealt no pair is a usage error, not an empty run."""
    if not config.shard:
        return
    dealt = pairs[: config.limit]
    if not select(dealt, config.shard):
        limited = f"the first {len(dealt)} (--limit {config.limit}) of " if config.limit is not None else ""
        _, count = config.shard.split("/")
        raise ConfigError(
            f"--shard {config.shard} gets no pair: {limited}the dataset's {len(pairs)} pairs dealt among {count} "
            f"shards leave it empty; use at most {len(dealt)} shards"
        )


def gate_conditions(config: RunConfig, categories: Sequence[str]) -> list[Condition]:
    conditions = resolve_categories([parse_condition(text) for text in config.gates], categories)
    relative = [c.text for c in conditions if c.relative]
    if relative and not config.baseline:
        raise ConfigError(f"gate {relative[0]!r} compares with a baseline: pass --baseline RESULTS.json")
    return conditions


def read_baseline(path: str) -> ResultsDocument:
    try:
        return read_document(Path(path))
    except (OSError, ValueError) as exc:
        raise DataError(f"--baseline {path}: not a readable mediconfusion-tests results.json ({exc})") from exc


def run_identity(config: RunConfig, info: DatasetInfo) -> Identity:
    prompts = prompt_source(config.prompts)
    prompt_set = prompts.get("sha256") or prompts.get("source")
    return Identity.of(
        info.revision or info.sha256, config.mode, prompt_set, config.answer_parser, config.judge_threshold
    )


def check_baseline(config: RunConfig, info: DatasetInfo) -> None:
    """Refuse, before any model loads, a baseline run on other data, prompts or scoring rules.

    Which pairs both runs scored is checked after the run, when it is known.
    """
    if not config.baseline:
        return
    differences = identity_mismatches(read_baseline(config.baseline), run_identity(config, info))
    if differences and not config.allow_baseline_mismatch:
        raise DataError(
            f"--baseline {config.baseline} cannot be compared with this run: "
            + "; ".join(differences)
            + ". Pass --allow-baseline-mismatch to compare anyway (the results will say so)."
        )


def _writable_folder(path: Path, option: str) -> None:
    """The folder, or the nearest one above it that exists, takes a scratch file: the one check root
    cannot fool (a read-only mount). Nothing is created that the run would not create itself."""
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{option} {path} is a file, not a folder")
    blocker = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        raise ConfigError(f"{option} {path} cannot be created: {blocker} is a file")
    existing = next(p for p in (path, *path.parents) if p.exists())
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        raise ConfigError(f"{option} {path} is not writable: {existing} refuses new files ({exc.strerror})") from None


def check_outputs(config: RunConfig) -> None:
    """Results and answers must be writable before any model loads, not after the run."""
    if config.use_store:
        check_store_file(config.answer_store_path())
    _writable_folder(Path(config.results_dir), "--results-dir")
    if config.use_store:
        store = config.answer_store_path()
        _writable_folder(store.parent, f"--answer-store {store}: its folder")


def _check_judge(registry: Registry, config: RunConfig, judge_role: str) -> None:
    judge_spec = registry.parse(config.judge or "")
    judge_check = registry.entry(judge_spec).load_validator()
    if judge_check is None:
        return
    try:
        judge_check(judge_spec, config, [])
    except DataError as exc:
        raise DataError(
            f"{judge_role} (--judge={config.judge}): {exc}; another judge: --judge=SPEC (any model, "
            "e.g. --judge=hf:Qwen/Qwen2.5-VL-7B-Instruct)"
        ) from None


#: Grades free-form answers when --judge is not given.
DEFAULT_JUDGE = "gpt-4o"


def prepare_run(
    config: RunConfig, registry: Registry, gpus: Sequence[str] = (), *, writes: bool = True
) -> tuple[RunPlan, list[Pair]]:
    """Every check that needs no model, each problem found at once (run/preflight.py); ``writes=False``
    (--collect-only) leaves the output folders alone."""
    if not config.model:
        raise DataError("no --model given")
    checks = Checks()
    if writes:
        with checks.check():
            check_outputs(config)
    spec: ModelSpec = registry.parse(config.model)
    entry = registry.entry(spec)
    judge_role = "the judge"
    if config.mode == "freeform" and entry.freeform_needs_judge and not config.judge:
        # Answers without scores are graded by the default judge, as the paper's GPT-4o did.
        config = RunConfig.from_dict({**config.to_dict(), "judge": DEFAULT_JUDGE})
        judge_role = "the default judge, used when --judge is not given"
    with checks.check():
        registry.check_mode(spec, config.mode, config.judge)
    with checks.check():
        registry.check_image_backend(spec, config.image_backend)
        if config.judge and config.mode == "freeform":
            _check_judge(registry, config, judge_role)
    if config.prompts:
        with checks.check():
            check_prompt_file(Path(config.prompts))
    requirements = entry.load_requirements()
    if requirements is not None:
        checks.add(requirements(spec, config))
    source = config.dataset or entry.default_dataset or "hub"
    config = RunConfig.from_dict({**config.to_dict(), "dataset": source})
    warnings: list[str] = []
    try:
        info = resolve_dataset(source, config.dataset_revision)
        pairs = load_pairs(info, warnings)
    except DataError as exc:
        checks.add([str(exc).replace(MODEL_PLACEHOLDER, f"--model={config.model}")])
        checks.raise_any()
        raise  # pragma: no cover - raise_any raised
    categories = tuple(category_names(pairs))
    with checks.check():
        check_shard(config, pairs)
    with checks.check():
        gate_conditions(config, categories)
    layout = None
    skipped: dict[str, str] = {}
    # The sample's images ship with the package and embedded images are in the cache: the report shows them
    # even for models that read no pixels.
    if entry.needs_images or config.images or ((source == "sample" or info.embedded) and info.images):
        root = _images_root(config, info).resolve()
        layout = detect_layout(root, distinct_images(pairs))
        with checks.check():
            skipped.update(_image_skips(layout, pairs, config.allow_missing_images, info))
        config = RunConfig.from_dict({**config.to_dict(), "images": str(root)})
    validator = entry.load_validator()
    if validator is not None:
        with checks.check():
            for pair_id, reason in validator(spec, config, pairs).items():
                skipped.setdefault(pair_id, reason)
    with checks.check():
        check_baseline(config, info)
    checks.raise_any()
    plan = RunPlan(
        make_run_id(spec.raw, config.mode), config, info, layout, skipped, categories, tuple(gpus), tuple(warnings)
    )
    return plan, pairs
