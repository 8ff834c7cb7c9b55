"""replay:PATH — re-score recorded answers without any model.

Two formats are read:

* this project's ``results.json`` (``"schema": "mediconfusion-tests/results"``);
* the original MediConfusion harness's answers file: an object keyed by pair
  id, each ``{"answer": {"im1": R, "im2": R}, "score": {...}}`` with R =
  ``{"full_answer": str, "A": number, "B": number}`` (free-form files add
  ``"gpt_reason"``), or R nested once more as ``{"answer": R, "logprob": x}``.

In mc, greedy and prefix modes the letter is parsed from ``full_answer`` (the
harness parsed greedy and prefix outputs the same way); in freeform mode the
recorded judge scores A and B decide through the threshold rule.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mediconfusion_tests import strict_json
from mediconfusion_tests.errors import DataError
from mediconfusion_tests.models.base import Answer, AnswerTypeError, Model, Query, check_answer
from mediconfusion_tests.results.document import SCHEMA, parse_document
from mediconfusion_tests.scoring.harness import pair_table, table_mismatches, total_table

if TYPE_CHECKING:
    from mediconfusion_tests.config import RunConfig
    from mediconfusion_tests.data.schema import Pair
    from mediconfusion_tests.models.base import ModelSpec
    from mediconfusion_tests.scoring.outcome import PairOutcome

OURS = SCHEMA
HARNESS = "harness"
_MAX_LISTED = 20


@dataclass
class ReplayFile:
    path: Path
    format: str
    sha256: str
    answers: dict[str, tuple[Answer, Answer]]
    mode: str | None = None
    recorded_scores: dict[str, Any] = field(default_factory=dict)


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _checked(where: str, answer: Answer) -> Answer:
    try:
        return check_answer(answer)
    except AnswerTypeError as exc:
        raise DataError(f"{where}: {exc}") from None


def _harness_answer(where: str, raw: object, mode: str) -> Answer:
    if isinstance(raw, Mapping) and "answer" in raw and isinstance(raw["answer"], Mapping):
        logprob = raw.get("logprob")
        inner = _harness_answer(where, raw["answer"], mode)
        return Answer(inner.text, inner.scores, None, {**inner.meta, "logprob": logprob})
    if not isinstance(raw, Mapping):
        raise DataError(f"{where}: expected an object with full_answer, A and B, got {type(raw).__name__}")
    text = raw.get("full_answer")
    if text is not None and not isinstance(text, str):
        raise DataError(f"{where}: full_answer must be a string or null, got {type(text).__name__}")
    for name in ("A", "B"):
        if raw.get(name) is not None and not _number(raw.get(name)):
            raise DataError(f"{where}: score {name} must be a number, got {raw[name]!r:.40}")
    scores = {k: float(raw[k]) for k in ("A", "B") if _number(raw.get(k))}
    if mode == "freeform" and len(scores) != 2:
        raise DataError(f"{where}: --mode=freeform needs numeric judge scores A and B, got {dict(raw)!r:.120}")
    if mode != "freeform" and "full_answer" not in raw:
        raise DataError(f"{where}: --mode={mode} needs full_answer (the model's raw text)")
    meta = {"gpt_reason": raw["gpt_reason"]} if "gpt_reason" in raw else {}
    return _checked(where, Answer(text, scores, None, meta))


def _read_harness(path: Path, data: Mapping[str, Any], mode: str) -> tuple[dict[str, Any], dict[str, Any]]:
    answers: dict[str, tuple[Answer, Answer]] = {}
    scores: dict[str, Any] = {}
    for pair_id, entry in data.items():
        where = f"{path}: pair {pair_id}"
        if not isinstance(entry, Mapping) or not isinstance(entry.get("answer"), Mapping):
            raise DataError(f'{where}: expected {{"answer": {{"im1": ..., "im2": ...}}, "score": ...}}')
        pair_answers = entry["answer"]
        missing = [k for k in ("im1", "im2") if k not in pair_answers]
        if missing:
            raise DataError(f"{where}: answer lacks {', '.join(missing)}")
        answers[str(pair_id)] = (
            _harness_answer(f"{where}: im1", pair_answers["im1"], mode),
            _harness_answer(f"{where}: im2", pair_answers["im2"], mode),
        )
        if "score" in entry:
            scores[str(pair_id)] = entry["score"]
    return answers, scores


def _ours_answer(where: str, raw: object) -> Answer:
    if not isinstance(raw, Mapping) or "raw" not in raw:
        raise DataError(f"{where}: expected an answer object with 'raw'")
    scores = raw.get("scores")
    if scores is not None and not isinstance(scores, Mapping):
        raise DataError(f"{where}: 'scores' must be an object of numbers, got {type(scores).__name__} {scores!r:.40}")
    if not isinstance(raw.get("raw"), (str, type(None))):
        raise DataError(f"{where}: 'raw' must be a string or null, got {type(raw['raw']).__name__} {raw['raw']!r:.40}")
    return _checked(where, Answer(raw["raw"], dict(scores or {}), raw.get("model_letter")))


def _read_ours(path: Path, data: Mapping[str, Any]) -> tuple[dict[str, tuple[Answer, Answer]], str]:
    """Answers by pair id, each carrying the prompt the recorded run sent; and the recorded mode.

    Answers are checked one by one first, for messages that name pair and field;
    then the whole file is validated as a results document."""
    pairs = data.get("pairs")
    if not isinstance(pairs, list):
        raise DataError(f"{path}: a results file needs a 'pairs' list")
    for index, record in enumerate(pairs):
        where = f"{path}: pairs[{index}]"
        if not isinstance(record, Mapping) or not isinstance(record.get("pair_id"), str):
            raise DataError(f"{where}: expected an object with a pair_id string")
        where = f"{where} (pair {record['pair_id']})"
        recorded = record.get("answers")
        if recorded is None:
            continue  # a pair that errored or was skipped in the recorded run
        if not isinstance(recorded, list) or len(recorded) != 2:
            raise DataError(f"{where}: 'answers' must list two answers")
        _ours_answer(where, recorded[0]), _ours_answer(where, recorded[1])
    try:
        document = parse_document(data, f"replay file {path}")
    except ValueError as exc:
        raise DataError(str(exc)) from None
    answers: dict[str, tuple[Answer, Answer]] = {}
    for record in document.pairs:
        if record.answers is None:
            continue
        prompts: list[str | None] = [*record.prompts, None, None]
        first, second = (
            Answer(a.raw, dict(a.scores), a.model_letter, {"prompt": prompt} if prompt else {})
            for a, prompt in zip(record.answers, prompts, strict=False)
        )
        answers[record.pair_id] = (first, second)
    # Probe variants (--probes) replay under the ids they were asked with, e.g. "10001~order".
    for probe in document.probes.pairs if document.probes is not None else ():
        for variant in probe.variants:
            if variant.variant_id and all(text is not None for text in variant.raw):
                answers[variant.variant_id] = (
                    Answer(str(variant.raw[0]), dict(variant.scores[0])),
                    Answer(str(variant.raw[1]), dict(variant.scores[1])),
                )
    return answers, document.config.mode


def read_replay(path: Path, mode: str) -> ReplayFile:
    try:
        raw = path.read_bytes()
        data = strict_json.loads_fields(raw)  # NaN and infinities reach the field checks, which name them
    except OSError as exc:
        raise DataError(f"replay file {path}: cannot be read ({exc})") from exc
    except RecursionError:
        raise DataError(f"replay file {path}: the JSON is nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise DataError(f"replay file {path}: not valid JSON ({exc})") from exc
    if not isinstance(data, Mapping):
        raise DataError(f"replay file {path}: expected a JSON object, got {type(data).__name__}")
    digest = hashlib.sha256(raw).hexdigest()
    if data.get("schema") == OURS:
        answers, recorded_mode = _read_ours(path, data)
        if recorded_mode != mode:
            raise DataError(f"replay file {path} was recorded with --mode={recorded_mode}; pass --mode={recorded_mode}")
        return ReplayFile(path, OURS, digest, answers, recorded_mode)
    answers, scores = _read_harness(path, data, mode)
    return ReplayFile(path, HARNESS, digest, answers, None, scores)


class ReplayModel(Model):
    name = "replay"
    cacheable = False
    #: No prompt is sent: the answers were given to the prompts of the recorded run.
    sends_prompts = False

    def __init__(self, replay: ReplayFile) -> None:
        self.replay = replay
        self.prompt_set = (
            "replayed: from the file" if replay.format == OURS else "replayed: prompts unknown (original harness file)"
        )

    def answer(self, queries: Sequence[Query]) -> list[Answer]:
        out = []
        for query in queries:
            pair = self.replay.answers.get(query.pair_id)
            if pair is None:
                raise KeyError(f"{self.replay.path} holds no answers for pair {query.pair_id}")
            out.append(pair[query.image_index - 1])
        return out

    def fingerprint(self) -> str:
        return f"replay:{self.replay.sha256}"

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "fingerprint": self.fingerprint(),
            "file": str(self.replay.path),
            "format": self.replay.format,
        }


def make_replay(spec: ModelSpec, config: RunConfig) -> Model:
    return ReplayModel(read_replay(Path(spec.argument or ""), config.mode))


def validate_replay(spec: ModelSpec, config: RunConfig, pairs: Sequence[Pair]) -> dict[str, str]:
    """Check the file's shape and that it answers every pair; return pairs to skip."""
    replay = read_replay(Path(spec.argument or ""), config.mode)
    missing = [p.id for p in pairs if p.id not in replay.answers]
    if missing and not config.allow_missing_answers:
        shown = ", ".join(missing[:_MAX_LISTED]) + (
            f" and {len(missing) - _MAX_LISTED} more" if len(missing) > _MAX_LISTED else ""
        )
        raise DataError(
            f"replay file {replay.path} has no answers for {len(missing)} of {len(pairs)} pair(s): {shown}. "
            "Pass --allow-missing-answers to skip them."
        )
    return {pid: f"no recorded answer in {replay.path.name}" for pid in missing}


def audit_replay(
    spec: ModelSpec, config: RunConfig, outcomes: Sequence[PairOutcome], categories: Sequence[str]
) -> dict[str, Any]:
    """Compare each re-scored pair with the score table the harness recorded for it."""
    replay = read_replay(Path(spec.argument or ""), config.mode)
    report: dict[str, Any] = {"format": replay.format, "file": str(replay.path), "sha256": replay.sha256}
    if replay.format != HARNESS:
        return report
    mismatches = []
    checked = 0
    for outcome in outcomes:
        recorded = replay.recorded_scores.get(outcome.pair_id)
        if recorded is None or outcome.answers is None:
            continue
        checked += 1
        problems = table_mismatches(recorded, pair_table(outcome, categories))
        if problems:
            mismatches.append({"pair_id": outcome.pair_id, "problems": problems})
    report.update(
        pairs_checked=checked,
        mismatches=mismatches,
        harness_totals=total_table(outcomes, categories),
    )
    return report
