"""Fixtures for our own tests: isolated caches, the shared benchmark metadata, pytester helpers."""

from __future__ import annotations

import json
import os
from pathlib import Path

# Imported here, before any inline pytester run: those runs drop the modules first imported inside them,
# and numpy's extension cannot be loaded a second time in one process ("cannot load module more than once").
import numpy  # noqa: F401
import pytest

# The user-facing fixtures of mediconfusion_tests.testing, exercised by our own tests.
from mediconfusion_tests.testing import (  # noqa: F401
    mediconfusion_load_model,
    mediconfusion_results,
    mediconfusion_sample,
)

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MEDICONFUSION_SHARED", REPO.parent / "shared" / "mediconfusion"))
TESTS = Path(__file__).resolve().parent
#: Registers the test-double models (tests/scripted_models.py) inside pytester runs, in or out of process.
SCRIPTED_CONFTEST = f"""
import sys

if {str(TESTS)!r} not in sys.path:
    sys.path.insert(0, {str(TESTS)!r})
from scripted_models import ENTRIES

def pytest_mediconfusion_models():
    return ENTRIES
"""


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """One cache for the whole session, shared by xdist workers: the sample and the demo model (trained,
    about 25 s) are built once, by whichever worker asks first, while the others wait on its lock."""
    base = tmp_path_factory.getbasetemp()
    folder = (base.parent if worker_id != "master" else base) / "mediconfusion-cache"
    folder.mkdir(exist_ok=True)
    return folder


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch, cache_dir: Path, tmp_path: Path) -> None:
    monkeypatch.setenv("MEDICONFUSION_CACHE", str(cache_dir))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    for name in (
        "MC_SCRIPT_LOG",
        "MC_SCRIPT_FAIL_PAIRS",
        "MC_SCRIPT_KILL_AT",
        "MC_SCRIPT_WRONG_PAIRS",
        "MC_SCRIPT_CALLS",
        "MC_SCRIPT_PREFETCH",
        "GITHUB_STEP_SUMMARY",
        "GITHUB_ACTIONS",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def shared_dir() -> Path:
    if not (SHARED / "dataset.json").is_file():
        pytest.skip(f"the real MediConfusion metadata is not at {SHARED} (set MEDICONFUSION_SHARED)")
    return SHARED


@pytest.fixture
def real_dataset(shared_dir: Path) -> dict[str, dict]:
    return json.loads((shared_dir / "dataset.json").read_text())


@pytest.fixture
def sample_dir(cache_dir: Path) -> Path:
    from mediconfusion_tests.sample.benchmark import sample_folder

    return sample_folder(cache_dir)


@pytest.fixture
def scripted(pytester: pytest.Pytester) -> pytest.Pytester:
    """A pytester folder whose conftest registers the oracle and scripted test models."""
    pytester.makeconftest(SCRIPTED_CONFTEST)
    return pytester


@pytest.fixture(scope="session")
def hf_ready(cache_dir: Path) -> None:
    """Load the demo model once in this process before any inline pytester run uses it.

    pytester's inline runs drop the modules first imported inside them, and torch
    cannot be imported a second time in one process; importing here keeps it loaded.
    """
    pytest.importorskip("transformers")
    from mediconfusion_tests.config import RunConfig
    from mediconfusion_tests.models.base import ModelSpec
    from mediconfusion_tests.models.demo import make_demo

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MEDICONFUSION_CACHE", str(cache_dir))
        make_demo(ModelSpec("demo", "demo"), RunConfig(model="demo")).close()


def require_browser() -> None:
    """Playwright and Chromium, or a skip (a failure where .ci/run requires them)."""
    required = bool(os.environ.get("MEDICONFUSION_REQUIRE_BROWSER"))  # .ci/run sets it: no silent skip in CI
    try:
        import playwright  # noqa: F401
    except ImportError:
        if required:
            pytest.fail("playwright is required here (pip install playwright)")
        pytest.skip("playwright is not installed")
    from browser import chromium_path

    if chromium_path() is None:
        if required:
            pytest.fail("Chromium is required here (apt-get install chromium)")
        pytest.skip("no Chromium here (apt-get install chromium)")


@pytest.fixture
def browser_ready() -> None:
    require_browser()


#: Fixtures that run the suite, load a tiny model or build the sample: a test asking for one is acceptance.
ACCEPTANCE_FIXTURES = frozenset(
    {"pytester", "scripted", "hf_ready", "tiny_models", "checkpoints", "sample_dir", "tiny"}
)
UNIT = TESTS / "unit"
ACCEPTANCE = TESTS / "acceptance"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The folder says the kind: tests/unit (pure code, seconds in all) or tests/acceptance (pytester runs, tiny
    models, subprocesses, the browser). A unit test that asks for an acceptance fixture is refused, so the folder
    stays true as tests are added."""
    misplaced = []
    for item in items:
        path = item.path
        if path.is_relative_to(UNIT):
            slow = sorted(ACCEPTANCE_FIXTURES & set(getattr(item, "fixturenames", ())))
            if slow:
                misplaced.append(f"{item.nodeid} uses {', '.join(slow)}: move it to tests/acceptance")
            item.add_marker(pytest.mark.unit)
        elif path.is_relative_to(ACCEPTANCE):
            item.add_marker(pytest.mark.acceptance)
        elif path.is_relative_to(TESTS):
            misplaced.append(f"{item.nodeid}: tests live in tests/unit or tests/acceptance")
    if misplaced:
        raise pytest.UsageError("misplaced tests:\n  " + "\n  ".join(misplaced))
