"""results.json as one typed document: what a run did, what it scored, what it decided.

Schema v2 is these pydantic models; every reader (replay, baseline, compare,
summary, report) validates a file against them, and every renderer (terminal,
Markdown, HTML, Allure, step summary) reads this object, never the live run.
``mediconfusion schema`` prints the JSON Schema (a copy is docs/results.schema.json).
Version 1 files, written before the schema existed, are read by filling in what v2
added (see ``upgrade_v1``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic import ConfigDict, Field, ValidationError

from mediconfusion_tests import redaction, strict_json
from mediconfusion_tests.atomic import write_text_atomic
from mediconfusion_tests.config import RunConfig
from mediconfusion_tests.data.sources import DatasetInfo
from mediconfusion_tests.errors import ConfigError
from mediconfusion_tests.records import Record
from mediconfusion_tests.results.gate import ConditionRecord
from mediconfusion_tests.scoring.letters import Letter
from mediconfusion_tests.scoring.metrics import Metrics
from mediconfusion_tests.scoring.outcome import EncoderSimilarity, FailureClass, ImageAnswer, PairOutcome
from mediconfusion_tests.scoring.paired import Discordance
from mediconfusion_tests.scoring.probes import ProbeFigures, ProbeOutcome, VariantResult, probe_figures
from mediconfusion_tests.scoring.similarity import SimilarityRecord

if TYPE_CHECKING:
    from pathlib import Path

    from mediconfusion_tests.data.schema import Pair

SCHEMA: Literal["mediconfusion-tests/results"] = "mediconfusion-tests/results"
SCHEMA_VERSION: Literal[2] = 2
PairStatus = Literal["passed", "failed", "error", "skipped", "not run"]


class ShardRecord(Record):
    """One shard of a run split with --shard I/N, and what ``mediconfusion merge`` needs to rejoin it."""

    index: int
    count: int
    #: Every pair dealt among the N shards, in dataset order (the merged run's order).
    dealt: list[str]
    #: The dataset's categories, in the order its tables list them.
    categories: list[str] = Field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.index}/{self.count}"


class MergedShard(Record):
    """A shard a merged run was built from."""

    shard: str
    run_id: str
    file: str
    hostname: str = ""
    started: float
    finished: float
    complete: bool | None = None


class RunRecord(Record):
    id: str
    started: float
    finished: float
    duration_s: float
    #: Not stopped early, every selected pair accounted for (v1 files: unknown).
    complete: bool | None = None
    #: Set when fewer pairs than the dataset holds were selected (--limit, -k, -m, --lf): which ones.
    subset: str | None = None
    #: Set for a run made with --shard I/N.
    shard: ShardRecord | None = None
    #: Set for a run made by ``mediconfusion merge``: the shards it joined.
    merged_from: list[MergedShard] = Field(default_factory=list)


class EnvironmentRecord(Record):
    model_config = ConfigDict(extra="allow")

    python: str = ""
    platform: str = ""
    hostname: str = ""
    packages: dict[str, str | None] = Field(default_factory=dict)
    git_commit: str | None = None
    xdist_workers: int = 0
    cuda_visible_devices: str | None = None
    ci: dict[str, str] = Field(default_factory=dict)


class LayoutRecord(Record):
    kind: Literal["local", "roco"]
    root: str
    prefix: str = ""


class DatasetRecord(DatasetInfo):
    """The dataset as a run used it: where its records came from, and how its images were laid out."""

    layout: LayoutRecord | None = None

    @property
    def label(self) -> str:
        """Where the pairs came from, as a reader wants it: hub id and revision, or the file."""
        if self.source in ("hub", "hf-dataset"):
            split = f":{self.split}" if self.split else ""
            return f"{self.repo}@{(self.revision or self.requested_revision or 'main')[:12]}{split}"
        if self.source == "table":
            return self.origin or self.file
        return self.source if self.source == "sample" else self.file

    @property
    def is_mediconfusion(self) -> bool:
        """False for the user's own pair tables: reports then name that dataset instead of MediConfusion."""
        return self.source not in ("hf-dataset", "table")


class AuditMismatch(Record):
    pair_id: str
    problems: list[str]


class AuditRecord(Record):
    """A replay checked against the score tables its file recorded."""

    format: str
    file: str
    sha256: str
    pairs_checked: int | None = None
    mismatches: list[AuditMismatch] = Field(default_factory=list)
    harness_totals: dict[str, dict[str, int]] | None = None


class InstanceRecord(Record):
    """One loaded model (per xdist worker): what the adapter reports about itself, plus where it ran."""

    model_config = ConfigDict(extra="allow")

    name: str | None = None
    fingerprint: str | None = None
    prompts: str | None = None
    cuda_visible_devices: str | None = None
    #: Why this process could not load the model.
    load_error: str | None = None


class ModelRecord(Record):
    spec: str
    name: str
    summary: str = ""
    note: str | None = None
    instances: dict[str, InstanceRecord] = Field(default_factory=dict)
    audit: AuditRecord | None = None


class JudgeRecord(Record):
    """Who graded the free-form answers, with which prompt and temperature."""

    spec: str
    #: "builtin" (our judge prompt) or the prompt file whose judge instruction was used.
    prompt: str
    instruction: str
    system: str | None = None
    temperature: float
    max_new_tokens: int
    threshold: float


class PromptsRecord(Record):
    source: str
    sha256: str | None = None
    #: The prompt set the model was really asked with: a name, or what a replay knows of its file's.
    used: str | None = None


class ParserRecord(Record):
    name: str | None = None
    disagreements: int | None = None


class Counts(Record):
    pairs_in_dataset: int
    pairs_scored: int
    pairs_errored: int
    pairs_skipped: int
    failure_classes: dict[FailureClass, int] = Field(default_factory=dict)


class GateRecord(Record):
    conditions: list[ConditionRecord]
    passed: bool


class CrashRecord(Record):
    worker: str
    pair_id: str | None = None
    in_flight: list[str] = Field(default_factory=list)
    retried: bool | None = None


class MetricDelta(Record):
    baseline: float | None
    new: float | None
    difference: float | None
    ci95: tuple[float, float] | None = None


class FlipSide(Record):
    decisions: list[Letter | None]
    raw: list[str | None]
    failure: str | None = None


class FlipRecord(Record):
    pair_id: str
    categories: list[str]
    truth: list[Letter]
    baseline: FlipSide
    new: FlipSide


class ComparisonRecord(Record):
    baseline_file: str
    baseline_run: str
    baseline_model: str
    pairs_compared: int
    pairs_only_in_baseline: list[str]
    pairs_only_in_this_run: list[str]
    mismatches: list[str]
    metrics: dict[str, MetricDelta]
    mcnemar: dict[str, Discordance]
    regressions: list[FlipRecord]
    improvements: list[FlipRecord]
    categories: dict[str, dict[str, MetricDelta]]
    mismatch_allowed: bool = False


class WorkerTiming(Record):
    model_load_s: float | None = None
    answering_s: float = 0.0
    #: Pairs the model answered; those whose answers came from the answer store are counted apart.
    pairs: int = 0
    pairs_from_store: int = 0
    pairs_per_s: float | None = None
    #: Local models: forward passes that computed an image (a cached continuation reads none), and images
    #: answered; their ratio is 1 for greedy, mc and prefix over a shared prompt, 2 where prefix runs per option.
    image_forwards: int | None = None
    images_answered: int | None = None
    forwards_per_image: float | None = None
    #: --preprocess-workers: the pool's workers, the images it preprocessed, those the model reached before
    #: they were ready and the seconds it waited for them, and why the pool broke (if it did).
    preprocess_pool: dict[str, Any] | None = None


class TimingRecord(Record):
    """Where the time went, per xdist worker ("main" without xdist) and for the run."""

    wall_s: float
    workers: dict[str, WorkerTiming] = Field(default_factory=dict)
    #: Scored pairs over the longest answering time of any worker (workers answer in parallel).
    pairs_per_s: float | None = None
    #: Every worker's image forwards over every image it answered (local models only).
    forwards_per_image: float | None = None


class UsageRecord(Record):
    """Tokens the model read and wrote, where the adapter counts them; answers from the store count nothing."""

    tokens_in: int | None = None
    tokens_out: int | None = None
    answers_counted: int = 0
    #: USD at the list prices in models/api/prices.py, for API models whose prices are known.
    cost_usd: float | None = None
    #: Requests sent to an API (retries included).
    requests: int | None = None


class ImageRecord(Record):
    local_id: int
    roco_path: str


class PairRecord(Record):
    pair_id: str
    categories: tuple[list[str], list[str]]
    truth: tuple[Letter, Letter]
    question: str
    options: tuple[str, str]
    images: tuple[ImageRecord, ImageRecord]
    status: PairStatus
    reason: str | None = None
    failure_class: FailureClass | None = None
    failure: str | None = None
    error: str | None = None
    prompts: list[str] = Field(default_factory=list)
    answers: tuple[ImageAnswer, ImageAnswer] | None = None
    set_correct: bool | None = None
    confused: bool | None = None
    valid: bool | None = None
    #: --encoder-similarity: the two images' cosine in the model's vision features (and the reference's).
    similarity: EncoderSimilarity | None = None

    @property
    def all_categories(self) -> list[str]:
        return sorted(set(self.categories[0]) | set(self.categories[1]))

    @classmethod
    def build(cls, pair: Pair, outcome: PairOutcome | None, skipped: str | None) -> PairRecord:
        common: dict[str, Any] = {
            "pair_id": pair.id,
            "categories": (list(pair.categories[0]), list(pair.categories[1])),
            "truth": pair.truth,
            "question": pair.question,
            "options": pair.options,
            "images": tuple(ImageRecord(local_id=i.local_id, roco_path=i.roco_path) for i in pair.images),
        }
        if skipped is not None or outcome is None:
            status: PairStatus = "skipped" if skipped is not None else "not run"
            return cls(**common, status=status, reason=skipped)
        return cls(
            **common,
            status="error" if outcome.error else ("passed" if outcome.set_correct else "failed"),
            failure_class=outcome.failure_class,
            failure=outcome.failure_message,
            error=outcome.error,
            prompts=list(outcome.prompts),
            answers=outcome.answers,
            set_correct=outcome.set_correct,
            confused=outcome.confused,
            valid=outcome.valid,
            similarity=outcome.similarity,
        )

    def outcome(self) -> PairOutcome | None:
        """The outcome this record holds; None for a pair that was skipped or never ran.

        The record carries the outcome's own fields under the same names, so it is read back
        exactly as a worker's outcome is on the controller."""
        if self.status in ("skipped", "not run"):
            return None
        return PairOutcome.from_dict(
            self.model_dump(include={"pair_id", "categories", "truth", "answers", "error", "prompts", "similarity"})
        )


class ProbePairRecord(Record):
    """One probe of one pair: its variants and whether the decisions held, or why it was not asked."""

    probe: str
    pair_id: str
    categories: tuple[list[str], list[str]]
    status: Literal["consistent", "inconsistent", "error", "skipped"]
    original: tuple[Letter | None, Letter | None] = (None, None)
    variants: list[VariantResult] = Field(default_factory=list)
    set_correct: bool | None = None
    seed: int | None = None
    reason: str | None = None

    def outcome(self) -> ProbeOutcome | None:
        if self.status == "skipped":
            return None
        data = self.model_dump()
        data["error"] = self.reason if self.status == "error" else None
        return ProbeOutcome.from_dict(data)


def figures_record(outcomes: Sequence[ProbeOutcome], skipped: Mapping[str, int]) -> dict[str, ProbeFigures]:
    """The roll-up of probe outcomes with the skipped cases counted, as the document records it."""
    return {
        probe: figures.model_copy(update={"skipped": skipped.get(probe, 0)})
        for probe, figures in probe_figures(outcomes).items()
    }


class FidelityRecord(Record):
    """How the model was asked against how the original harness asked it (--prefix-tokens, --letter-tokens,
    --generation), and the images where the original's rule could not be applied."""

    prefix_tokens: str
    letter_tokens: str
    generation: str
    #: The original's model file whose rules applied (None: a family the paper never ran).
    paper_rule: str | None = None
    #: --dtype as set ("paper": the dtype the original loaded the family in) and whether the user gave it
    #: (else it followed the readings: paper while any of them is paper); the dtype the weights had.
    dtype_setting: str | None = None
    dtype_given: bool | None = None
    dtype: str | None = None
    #: "batched", or one image at a time where the original's reduced-precision arithmetic is reproduced.
    batching: str | None = None
    #: Whose image processor made the pixels (--image-backend): "pil", as the original's, or "torchvision".
    image_backend: str | None = None
    #: Images scored with the original's prefix tokens, and those that fell back to context.
    paper_images: int = 0
    fallbacks: int = 0
    fallback_images: dict[str, str] = Field(default_factory=dict)


class ProbesRecord(Record):
    """--probes: what was asked and how consistently the model answered."""

    probes: list[str]
    #: The run seed the image probe's hypothesis seeds derive from, and its examples per pair.
    seed: int
    examples: int
    figures: dict[str, ProbeFigures] = Field(default_factory=dict)
    pairs: list[ProbePairRecord] = Field(default_factory=list)

    def outcomes(self) -> list[ProbeOutcome]:
        return [o for record in self.pairs if (o := record.outcome()) is not None]


class ResultsDocument(Record):
    schema_name: Literal["mediconfusion-tests/results"] = Field(SCHEMA, alias="schema")
    schema_version: Literal[2] = SCHEMA_VERSION
    run: RunRecord
    config: RunConfig
    environment: EnvironmentRecord
    dataset: DatasetRecord
    model: ModelRecord
    prompts: PromptsRecord
    parser: ParserRecord = Field(default_factory=ParserRecord)
    counts: Counts
    metrics: Metrics
    harness_counts: dict[str, dict[str, int]] = Field(default_factory=dict)
    gate: GateRecord | None = None
    judge: JudgeRecord | None = None
    problems: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    crashes: list[CrashRecord] = Field(default_factory=list)
    other_failures: list[str] = Field(default_factory=list)
    baseline: ComparisonRecord | None = None
    errors: dict[str, str] = Field(default_factory=dict)
    timing: TimingRecord | None = None
    usage: UsageRecord | None = None
    probes: ProbesRecord | None = None
    fidelity: FidelityRecord | None = None
    encoder_similarity: SimilarityRecord | None = None
    pairs: list[PairRecord] = Field(default_factory=list)

    def outcomes(self) -> list[PairOutcome]:
        """The outcomes the document records, skipped and never-run pairs left out."""
        return [o for record in self.pairs if (o := record.outcome()) is not None]

    def to_json(self) -> str:
        data = self.model_dump(mode="json", by_alias=True)
        return json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def json_schema() -> dict[str, Any]:
    schema = ResultsDocument.model_json_schema(by_alias=True)
    schema["$id"] = f"urn:mediconfusion-tests:results:{SCHEMA_VERSION}"
    schema["title"] = "mediconfusion-tests results.json (schema version 2)"
    return schema


def upgrade_v1(data: dict[str, Any]) -> dict[str, Any]:
    """A v1 document in v2's shape: v2 only added fields, and renamed the config's use_cache to use_store."""
    upgraded = dict(data)
    config = dict(upgraded.get("config") or {})
    if "use_cache" in config:
        config["use_store"] = config.pop("use_cache")
    upgraded["config"] = config
    upgraded["schema_version"] = SCHEMA_VERSION
    return upgraded


def _first_errors(exc: ValidationError, limit: int = 3) -> str:
    shown = []
    for error in exc.errors()[:limit]:
        where = ".".join(str(part) for part in error["loc"])
        shown.append(f"'{where}': {error['msg'].lower()}")
    more = f" (and {exc.error_count() - limit} more)" if exc.error_count() > limit else ""
    return "; ".join(shown) + more


def parse_document(data: object, where: str) -> ResultsDocument:
    """Validate parsed JSON as a results document (v1 or v2); ValueError says what is wrong, once."""
    if not isinstance(data, Mapping) or data.get("schema") != SCHEMA:
        raise ValueError(f"{where}: not a mediconfusion-tests results file (its 'schema' is not {SCHEMA!r})")
    version = data.get("schema_version")
    if type(version) is not int:  # true == 1 and 2.0 == 2 in Python, but neither is a schema version
        raise ValueError(f"{where}: schema_version {version!r} is not an integer (1 or {SCHEMA_VERSION})")
    if version == 1:
        data = upgrade_v1(dict(data))
    elif version != SCHEMA_VERSION:
        raise ValueError(
            f"{where}: schema_version {version!r} is not one this mediconfusion-tests reads (1 or {SCHEMA_VERSION})"
        )
    try:
        return ResultsDocument.model_validate(data)
    except ValidationError as exc:
        raise ValueError(f"{where}: not a complete results.json: {_first_errors(exc)}") from None
    except ConfigError as exc:  # RunConfig says what is wrong with a setting in its own words
        raise ValueError(f"{where}: not a complete results.json: config: {exc}") from None


def read_document(path: Path) -> ResultsDocument:
    """A results.json (v1 or v2) validated, or ValueError saying what is wrong with the file."""
    try:
        data = strict_json.loads(path.read_text(encoding="utf-8"))
    except RecursionError:
        raise ValueError(f"{path}: the JSON is nested too deeply") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8 text ({exc.reason})") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: line {exc.lineno}, column {exc.colno}: invalid JSON ({exc.msg})") from None
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    return parse_document(data, str(path))


def scrub_document(document: ResultsDocument) -> ResultsDocument:
    """The document with every known secret masked, wherever a server or a file put it."""
    if not redaction.known():
        return document
    text = document.to_json()
    clean = redaction.scrub(text)
    return document if clean == text else ResultsDocument.model_validate(json.loads(clean))


def write_document(path: Path, document: ResultsDocument) -> None:
    """Atomically, as strict JSON: readers never see half a file or a NaN."""
    write_text_atomic(path, document.to_json())


def pair_records(
    pairs: Sequence[Pair], outcomes: Mapping[str, PairOutcome], skipped: Mapping[str, str]
) -> list[PairRecord]:
    return [
        PairRecord.build(p, outcomes.get(p.id), skipped.get(p.id)) for p in pairs if p.id in outcomes or p.id in skipped
    ]
