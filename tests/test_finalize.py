"""One finalize for a run and a merge of shards: the document is built in one place, and shards merge into what
one full run records, probes, parser and fidelity included."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from mediconfusion_tests.cli import main

PACKAGE = Path(__file__).resolve().parents[1] / "mediconfusion_tests"
SAMPLE = ("--dataset=sample", "-p", "no:cacheprovider")


def _calls(path: Path, name: str) -> int:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return sum(
        1
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and (
            (isinstance(node.func, ast.Name) and node.func.id == name)
            or (isinstance(node.func, ast.Attribute) and node.func.attr == name)
        )
    )


def _imports_decide(path: Path) -> bool:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return any(
        isinstance(node, ast.ImportFrom)
        and node.module == "mediconfusion_tests.results.decision"
        and any(alias.name == "decide" for alias in node.names)
        for node in ast.walk(tree)
    )


def test_finalize_is_the_only_place_a_results_document_is_built() -> None:
    built = {str(p.relative_to(PACKAGE)): n for p in PACKAGE.rglob("*.py") if (n := _calls(p, "ResultsDocument"))}
    assert built == {"run/finalize.py": 1}
    deciders = sorted(str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py") if _imports_decide(p))
    assert deciders == ["run/finalize.py"]


def _latest(folder: Path) -> dict:
    return json.loads((folder / "latest" / "results.json").read_text())


@pytest.mark.acceptance
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
