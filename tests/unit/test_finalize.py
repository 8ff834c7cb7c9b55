"""finalize is the only place a results document is built (read in the source)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "mediconfusion_tests"


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
