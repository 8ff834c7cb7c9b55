"""One finalize for a run and a merge of shards: the document is built in one place, and shards merge into what
one full run records, probes, parser and fidelity included."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from mediconfusion_tests.cli import main

if TYPE_CHECKING:
    from pathlib import Path

    import pytest

SAMPLE = ("--dataset=sample", "-p", "no:cacheprovider")


def _latest(folder: Path) -> dict:
    return json.loads((folder / "latest" / "results.json").read_text())


def test_a_merge_records_what_one_full_run_records(
    pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    """Probes (and their gate), the parser's disagreements and every derived section agree field for field."""
    common = ("--model=random", "--mode=mc", "--probes=order,paraphrase", "--gate", "order.consistency>=0.0", *SAMPLE)
    assert pytester.runpytest(*common, "--results-dir=full").ret == 0
    for index in (1, 2):
        assert pytester.runpytest(*common, f"--results-dir=s{index}", f"--shard={index}/2").ret == 0
    shards = [str(pytester.path / f"s{i}" / "latest") for i in (2, 1)]
    status = main(["merge", *shards, "-o", str(pytester.path / "m")])
    assert status == 0, capsys.readouterr()
    full, merged = _latest(pytester.path / "full"), _latest(pytester.path / "m")
    assert full["probes"]["pairs"], "the probes ran"
    for key in ("metrics", "harness_counts", "counts", "problems", "errors", "gate", "probes", "parser", "pairs"):
        assert merged[key] == full[key], key
    assert merged["parser"]["disagreements"] is not None
    assert merged["run"]["complete"] is full["run"]["complete"] is True
