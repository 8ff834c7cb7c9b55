"""results.json: the complete record of a run, versioned so later tools can read it."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from mediconfusion_tests.data.schema import Pair
from mediconfusion_tests.scoring.outcome import ImageAnswer, PairOutcome

SCHEMA = "mediconfusion-tests/results"
SCHEMA_VERSION = 1


def pair_record(pair: Pair, outcome: PairOutcome | None, skipped: str | None) -> dict[str, Any]:
    record: dict[str, Any] = {
        "pair_id": pair.id,
        "categories": [list(c) for c in pair.categories],
        "truth": list(pair.truth),
        "question": pair.question,
        "options": list(pair.options),
        "images": [{"local_id": i.local_id, "roco_path": i.roco_path} for i in pair.images],
    }
    if skipped is not None or outcome is None:
        record.update(status="skipped" if skipped is not None else "not run", reason=skipped, answers=None)
        return record
    record.update(
        status="error" if outcome.error else ("passed" if outcome.set_correct else "failed"),
        failure_class=outcome.failure_class,
        failure=outcome.failure_message,
        error=outcome.error,
        prompts=list(outcome.prompts),
        answers=None if outcome.answers is None else [asdict(a) for a in outcome.answers],
        set_correct=outcome.set_correct,
        confused=outcome.confused,
        valid=outcome.valid,
    )
    return record


def pair_records(
    pairs: Sequence[Pair], outcomes: Mapping[str, PairOutcome], skipped: Mapping[str, str]
) -> list[dict[str, Any]]:
    return [pair_record(p, outcomes.get(p.id), skipped.get(p.id)) for p in pairs if p.id in outcomes or p.id in skipped]


def write_json(path: Path, data: object) -> None:
    """Write atomically: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, scratch = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(data, out, indent=2, ensure_ascii=False, allow_nan=False)
            out.write("\n")
        os.chmod(scratch, 0o644)  # mkstemp creates 0600; results are meant to be shared
        os.replace(scratch, path)
    except BaseException:
        Path(scratch).unlink(missing_ok=True)
        raise


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not valid strict JSON")


#: What every reader needs, as (dotted path, expected type); checked before any reader indexes the file.
_REQUIRED: tuple[tuple[str, type | tuple[type, ...]], ...] = (
    ("schema_version", int),
    ("run", dict),
    ("run.id", str),
    ("run.duration_s", (int, float)),
    ("environment", dict),
    ("config", dict),
    ("config.mode", str),
    ("config.answer_parser", str),
    ("dataset", dict),
    ("model", dict),
    ("model.spec", str),
    ("counts", dict),
    ("counts.pairs_in_dataset", int),
    ("counts.pairs_scored", int),
    ("counts.pairs_errored", int),
    ("counts.pairs_skipped", int),
    ("metrics", dict),
    ("metrics.overall", dict),
    ("metrics.categories", dict),
    ("problems", list),
    ("pairs", list),
)
_ANSWER_FIELDS = frozenset(f.name for f in fields(ImageAnswer))
_MISSING = object()


def _lookup(data: Mapping[str, Any], dotted: str) -> object:
    value: object = data
    for part in dotted.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return _MISSING
        value = value[part]
    return value


Shape = Mapping[str, "type | tuple[type, ...]"]
_NONE = type(None)
_PROPORTION: Shape = {"value": (int, float, _NONE), "k": int, "n": int, "ci95": (list, _NONE)}
_FIGURES = ("set_accuracy", "individual_accuracy", "confusion", "invalid_rate")
_CONDITION: Shape = {"condition": str, "passed": bool, "value": (int, float, _NONE), "n": (int, _NONE)}


def _shape_problem(where: str, value: object, shape: Shape) -> str | None:
    if not isinstance(value, Mapping):
        return f"'{where}' must be an object"
    for key, kind in shape.items():
        if key not in value:
            return f"'{where}.{key}' is missing"
        if not isinstance(value[key], kind) or (isinstance(value[key], bool) and kind is int):
            return f"'{where}.{key}' has the wrong type ({type(value[key]).__name__})"
    return None


def _figures_problem(where: str, figures: object) -> str | None:
    shape: dict[str, type | tuple[type, ...]] = {name: dict for name in _FIGURES}
    shape.update(pairs=int, images=int, valid_pairs=int)
    problem = _shape_problem(where, figures, shape)
    if problem is not None or not isinstance(figures, Mapping):
        return problem
    return next((p for name in _FIGURES if (p := _shape_problem(f"{where}.{name}", figures[name], _PROPORTION))), None)


def _metrics_problem(metrics: Mapping[str, Any]) -> str | None:
    problem = _figures_problem("metrics.overall", metrics["overall"])
    for name, category in metrics["categories"].items():
        if problem is not None:
            break
        problem = _shape_problem(f"metrics.categories.{name}", category, {"paper": dict, "pair_level": dict})
        for level in ("paper", "pair_level"):
            if problem is None:
                problem = _figures_problem(f"metrics.categories.{name}.{level}", category[level])
    return problem


def _pair_problem(index: int, record: object) -> str | None:
    where = f"pairs[{index}]"
    if not isinstance(record, Mapping) or not isinstance(record.get("pair_id"), str):
        return f"{where}: expected an object with a pair_id string"
    where = f"{where} (pair {record['pair_id']})"
    categories, truth, answers = record.get("categories"), record.get("truth"), record.get("answers")
    if not (isinstance(categories, list) and len(categories) == 2 and all(isinstance(c, list) for c in categories)):
        return f"{where}: 'categories' must be two lists"
    if not (isinstance(truth, list) and len(truth) == 2 and all(t in ("A", "B") for t in truth)):
        return f"{where}: 'truth' must be two letters A/B"
    if not isinstance(record.get("question"), str) or not isinstance(record.get("options"), list):
        return f"{where}: 'question' (text) and 'options' (a list) are required"
    images = record.get("images")
    if not (isinstance(images, list) and len(images) == 2 and all(isinstance(i, Mapping) for i in images)):
        return f"{where}: 'images' must be two objects"
    if answers is None:
        return None
    if not (isinstance(answers, list) and len(answers) == 2 and all(isinstance(a, Mapping) for a in answers)):
        return f"{where}: 'answers' must be null or two objects"
    for answer in answers:
        unknown = set(answer) - _ANSWER_FIELDS
        if unknown or "raw" not in answer or answer.get("decision") not in (None, "A", "B"):
            return f"{where}: an answer needs 'raw' and a decision A/B/null (unknown fields: {sorted(unknown)})"
    return None


def document_problems(data: object) -> list[str]:
    """Why a parsed file is not a complete results.json (empty when it is)."""
    if not isinstance(data, Mapping) or data.get("schema") != SCHEMA:
        return [f"not a mediconfusion-tests results file (its 'schema' is not {SCHEMA!r})"]
    problems = []
    for dotted, kind in _REQUIRED:
        value = _lookup(data, dotted)
        if value is _MISSING:
            problems.append(f"'{dotted}' is missing")
        elif not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
            problems.append(f"'{dotted}' must be {getattr(kind, '__name__', kind)}, got {type(value).__name__}")
    if problems:
        return problems
    metrics = _metrics_problem(data["metrics"])
    if metrics is not None:
        problems.append(metrics)
    gate = data.get("gate")
    if gate is not None:
        problem = _shape_problem("gate", gate, {"conditions": list, "passed": bool})
        for index, condition in enumerate(gate.get("conditions", []) if problem is None else ()):
            problem = problem or _shape_problem(f"gate.conditions[{index}]", condition, _CONDITION)
        if problem is not None:
            problems.append(problem)
    for index, record in enumerate(data.get("pairs") or ()):
        problem = _pair_problem(index, record)
        if problem is not None:
            problems.append(problem)
            break
    return problems


def read_results(path: Path) -> dict[str, Any]:
    """A complete results.json, or ValueError saying what is wrong with the file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"), parse_constant=_reject_constant)
    except RecursionError:
        raise ValueError(f"{path}: the JSON is nested too deeply") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8 text ({exc.reason})") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: line {exc.lineno}, column {exc.colno}: invalid JSON ({exc.msg})") from None
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    problems = document_problems(data)
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise ValueError(f"{path}: not a complete results.json: {'; '.join(problems[:3])}{more}")
    assert isinstance(data, dict)
    return data


def outcomes_from_document(document: Mapping[str, Any]) -> list[PairOutcome]:
    """The pair outcomes a results.json records (skipped pairs left out)."""
    outcomes = []
    for record in document.get("pairs", []):
        if record.get("status") in ("skipped", "not run"):
            continue
        answers = record.get("answers")
        outcomes.append(
            PairOutcome(
                str(record["pair_id"]),
                (tuple(record["categories"][0]), tuple(record["categories"][1])),
                (record["truth"][0], record["truth"][1]),
                None if answers is None else (ImageAnswer(**answers[0]), ImageAnswer(**answers[1])),
                error=record.get("error"),
            )
        )
    return outcomes
