"""The fixtures of mediconfusion_tests.testing, as a project's own tests would use them."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from helpers import make_document, outcome

from mediconfusion_tests.models.base import Model, Query

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from mediconfusion_tests.results.document import ResultsDocument


def test_results_loader_reads_a_run_folder(
    tmp_path: Path, mediconfusion_results: Callable[..., ResultsDocument]
) -> None:
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "results.json").write_text(make_document([outcome("1"), outcome("2", decisions=("A", "A"))]).to_json())
    document = mediconfusion_results(folder)
    assert document.metrics.overall.set_accuracy.value == 0.5


def test_results_loader_fails_the_test_with_the_reason(
    tmp_path: Path, mediconfusion_results: Callable[..., ResultsDocument]
) -> None:
    with pytest.raises(pytest.fail.Exception, match=r"no usable MediConfusion results at .*: .*No such file"):
        mediconfusion_results(tmp_path / "missing")


def test_model_loader_goes_through_the_registry(
    mediconfusion_load_model: Callable[..., Model], mediconfusion_sample: Path
) -> None:
    model = mediconfusion_load_model("always-b")
    query = Query("1", 1, "", "", "Q?", ("x", "y"), "greedy", "Q?")
    assert model.answer([query])[0].letter == "B"
    assert (mediconfusion_sample / "dataset.json").is_file()


def test_a_project_loads_the_fixtures_from_the_package(pytester: pytest.Pytester) -> None:
    """As the README says: one line in the project's conftest.py, nothing copied."""
    run = pytester.path / "reports" / "latest"
    run.mkdir(parents=True)
    (run / "results.json").write_text(make_document([outcome("1"), outcome("2", decisions=("A", "A"))]).to_json())
    pytester.makeconftest('pytest_plugins = ["mediconfusion_tests.testing"]\n')
    pytester.makepyfile(
        test_own="""
        def test_half_the_pairs(mediconfusion_results):
            assert mediconfusion_results().metrics.overall.set_accuracy.value == 0.5
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
