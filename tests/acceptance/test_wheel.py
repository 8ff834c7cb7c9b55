"""The wheel ships what users run and nothing of our test doubles."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NOT_SOURCES = (
    ".git",
    ".venv",
    "build",
    "dist",
    "reports",
    "artifacts",
    "*.egg-info",
    "__pycache__",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    ".hypothesis",
    "node_modules",
    "data",
)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built from a copy of the sources: pip builds in the tree, and a build/ left in the checkout would later
    hand stale modules to anyone who installs from it."""
    out = tmp_path_factory.mktemp("wheel")
    source = tmp_path_factory.mktemp("source") / "src"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(*NOT_SOURCES))
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(source)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    (built,) = out.glob("mediconfusion_tests-*.whl")
    return built


@pytest.fixture(scope="module")
def wheel_files(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


def test_the_wheel_holds_the_package_its_sample_and_types(wheel_files: list[str]) -> None:
    for needed in (
        "mediconfusion_tests/plugin/hooks.py",
        "mediconfusion_tests/suite/test_pairs.py",
        "mediconfusion_tests/sample/benchmark.py",
        "mediconfusion_tests/sample/scenes.py",
        "mediconfusion_tests/sample/demo_model.py",
        "mediconfusion_tests/results/document.py",
        "mediconfusion_tests/py.typed",
    ):
        assert needed in wheel_files
    assert any(name.endswith("licenses/LICENSE") for name in wheel_files)


def test_the_wheel_holds_no_test_double(wheel_files: list[str]) -> None:
    top = {name.split("/", 1)[0] for name in wheel_files}
    assert {t for t in top if not t.endswith(".dist-info")} == {"mediconfusion_tests"}
    for name in wheel_files:
        assert not name.startswith(("tests/", "fixtures/", "benchmarks/"))
        assert not name.endswith(("scripted_models.py", "sample_oracle.py", "browser.py", "tiny_models.py"))


def test_the_metadata_declares_the_plugin_licence_and_classifiers(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        entry_points = archive.read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
        metadata = archive.read(next(n for n in names if n.endswith("METADATA"))).decode()
    assert "[pytest11]\nmediconfusion = mediconfusion_tests.plugin.hooks" in entry_points
    assert "mediconfusion = mediconfusion_tests.cli:main" in entry_points
    assert "License-Expression: MIT" in metadata
    assert "Classifier: Framework :: Pytest" in metadata
    assert "Classifier: Typing :: Typed" in metadata
