"""Fixtures for your own tests around a MediConfusion run: results documents, models, the sample benchmark.

Shipped with the package; load them in your conftest.py with::

    pytest_plugins = ["mediconfusion_tests.testing"]

Then, for instance, a check of your own on the last run::

    def test_cardiac_confusion_is_under_control(mediconfusion_results):
        document = mediconfusion_results()                  # reports/latest/results.json, validated
        assert document.metrics.categories["Cardiac"].paper.confusion.value < 0.7
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from mediconfusion_tests.config import RunConfig
from mediconfusion_tests.results.document import ResultsDocument, read_document

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from mediconfusion_tests.models.base import Model

DEFAULT_RUN = Path("reports") / "latest"


@pytest.fixture
def mediconfusion_results(request: pytest.FixtureRequest) -> Callable[..., ResultsDocument]:
    """A loader: ``mediconfusion_results(path="reports/latest")`` -> the run's validated results document.

    A relative path is taken from the rootdir; a folder means its results.json.
    """

    def load(path: str | Path = DEFAULT_RUN) -> ResultsDocument:
        target = Path(path)
        if not target.is_absolute():
            target = Path(request.config.rootpath) / target
        if target.is_dir():
            target = target / "results.json"
        try:
            return read_document(target)
        except (OSError, ValueError) as exc:
            pytest.fail(f"no usable MediConfusion results at {target}: {exc}", pytrace=False)

    return load


@pytest.fixture
def mediconfusion_load_model(request: pytest.FixtureRequest) -> Iterator[Callable[..., Model]]:
    """A loader: ``mediconfusion_load_model("hf:org/model", mode="greedy")`` -> a loaded model, closed after the test.

    It goes through the same registry as ``--model`` (entry points and conftest models included).
    """
    from mediconfusion_tests.models.registry import build_registry
    from mediconfusion_tests.run.runtime import load_model

    registry = build_registry(request.config.hook.pytest_mediconfusion_models())
    loaded: list[Model] = []

    def load(spec: str, **settings: object) -> Model:
        model = load_model(registry, spec, RunConfig.from_dict({"model": spec, **settings}))
        loaded.append(model)
        return model

    yield load
    for model in loaded:
        model.close()


@pytest.fixture(scope="session")
def mediconfusion_sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The synthetic sample benchmark (dataset.json + images/), built once per session in a temporary folder."""
    from mediconfusion_tests.sample.benchmark import sample_folder

    return sample_folder(tmp_path_factory.mktemp("mediconfusion-sample"))
