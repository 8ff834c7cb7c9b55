"""Small helpers shared by our tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mediconfusion_tests.scoring.outcome import ImageAnswer, PairOutcome


def read_results(folder: Path) -> dict[str, Any]:
    """The results.json of the latest run under folder/reports."""
    return json.loads((folder / "reports" / "latest" / "results.json").read_text())


def read_run(folder: Path) -> dict[str, Any]:
    """The results.json of the newest run folder under folder/reports, complete or not."""
    runs = sorted((folder / "reports").glob("*/results.json"), key=lambda p: p.stat().st_mtime)
    return json.loads(runs[-1].read_text())


def outcome(
    pair_id: str = "1",
    truth: tuple[str, str] = ("A", "B"),
    decisions: tuple[str | None, str | None] = ("A", "B"),
    categories: tuple[tuple[str, ...], tuple[str, ...]] = (("Cerebral",), ("Cerebral",)),
    raws: tuple[str | None, str | None] | None = None,
) -> PairOutcome:
    raws = raws or (decisions[0] or "no idea", decisions[1] or "no idea")
    answers = tuple(ImageAnswer(raw=r, decision=d) for r, d in zip(raws, decisions, strict=True))
    return PairOutcome(pair_id, categories, truth, answers)  # type: ignore[arg-type]
