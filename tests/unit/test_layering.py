"""The folders read as the data flow, and the code keeps to it: no import cycle, each layer imports downwards."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "mediconfusion_tests"
NAME = "mediconfusion_tests"
#: What each folder may not import: results/ and scoring/ are pure; reporting/ renders the document only.
FORBIDDEN = {
    "scoring": ("plugin", "run", "reporting", "results", "models", "data"),
    "results": ("plugin", "run", "reporting"),
    "reporting": ("plugin", "run"),
    "data": ("plugin", "run", "reporting", "results"),
    "models": ("plugin", "run", "reporting"),
    "run": ("plugin",),
    # mining sits beside the plugin, on top: its drafter asks models through the run's batcher and store.
    "mining": ("plugin", "results"),
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """Every first-party module a file imports, at the top or inside functions, typing-only ones left out."""
    tree = ast.parse(path.read_text())
    typing_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            typing_only.update(id(child) for child in ast.walk(node))
    found = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(NAME):
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith(NAME))
    return found


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: {i for i in imports(path) if i in modules and i != name} for name, path in modules.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_module_imports_itself_in_a_cycle(graph: dict[str, set[str]]) -> None:
    assert _cycle(graph) is None


def test_no_cycle_between_packages(graph: dict[str, set[str]]) -> None:
    def package(name: str) -> str:
        """A sub-package, or a top-level module on its own (errors, config, cli...)."""
        return name.split(".")[1] if "." in name else name

    packages: dict[str, set[str]] = {}
    for name, targets in graph.items():
        packages.setdefault(package(name), set()).update(package(t) for t in targets if package(t) != package(name))
    assert _cycle(packages) is None


@pytest.mark.parametrize("folder", sorted(FORBIDDEN))
def test_each_layer_imports_downwards(graph: dict[str, set[str]], folder: str) -> None:
    prefix = f"{NAME}.{folder}."
    wrong = {
        (name, target)
        for name, targets in graph.items()
        if name.startswith(prefix)
        for target in targets
        if any(target.startswith(f"{NAME}.{other}.") or target == f"{NAME}.{other}" for other in FORBIDDEN[folder])
    }
    assert not wrong


def test_only_the_plugin_layer_touches_pytest_hooks() -> None:
    hooked = {
        module_name(p)
        for p in PACKAGE.rglob("*.py")
        if "pytest.hookimpl" in p.read_text() or "def pytest_" in p.read_text()
    }
    assert all(name.startswith(f"{NAME}.plugin.") for name in hooked), hooked
