"""results.json: the complete record of a run, versioned so later tools can read it."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict
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
            json.dump(data, out, indent=2, ensure_ascii=False)
            out.write("\n")
        os.chmod(scratch, 0o644)  # mkstemp creates 0600; results are meant to be shared
        os.replace(scratch, path)
    except BaseException:
        Path(scratch).unlink(missing_ok=True)
        raise


def read_results(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise ValueError(f"{path} is not a mediconfusion-tests results file")
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
