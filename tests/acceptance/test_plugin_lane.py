"""Installed in an unrelated project, the plugin adds one option group and nothing else."""

from __future__ import annotations

import pytest

UNRELATED = """
import pytest

@pytest.mark.cardiac
def test_marked():
    pass

def test_plain(tmp_path):
    pass
"""


def _lines(result: pytest.RunResult) -> list[str]:
    """The output, less the plugin list (ours is in it, by design) and the timing line."""
    return [
        line
        for line in result.stdout.lines
        if line.strip() and not line.startswith("plugins:") and "tests ran in" not in line
    ]


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(test_unrelated=UNRELATED)
    return pytester


def test_markers_are_the_same_as_without_the_plugin(project: pytest.Pytester) -> None:
    with_plugin = project.runpytest_subprocess("--markers")
    without = project.runpytest_subprocess("--markers", "-p", "no:mediconfusion")
    assert _lines(with_plugin) == _lines(without)
    assert "cardiac" not in with_plugin.stdout.str()
    assert not any("mediconfusion" in line for line in _lines(with_plugin))


def test_fixtures_are_the_same_as_without_the_plugin(project: pytest.Pytester) -> None:
    with_plugin = project.runpytest_subprocess("--fixtures")
    without = project.runpytest_subprocess("--fixtures", "-p", "no:mediconfusion")
    assert _lines(with_plugin) == _lines(without)
    assert not any("mediconfusion" in line for line in _lines(with_plugin))


def test_strict_markers_still_refuse_a_category_marker(project: pytest.Pytester) -> None:
    result = project.runpytest_subprocess("--strict-markers")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*'cardiac' not found in `markers` configuration option*"])


def test_with_a_model_the_markers_and_fixtures_are_there(pytester: pytest.Pytester) -> None:
    markers = pytester.runpytest_subprocess("--markers", "--model=random", "--dataset=sample")
    markers.stdout.fnmatch_lines(["@pytest.mark.mediconfusion: *"])
    markers.stdout.fnmatch_lines(["@pytest.mark.cardiac: *"])
    fixtures = pytester.runpytest_subprocess("--fixtures", "--model=random", "--dataset=sample")
    # pytest lists fixtures sorted by "file:line" as text, so their order says nothing: one match each.
    fixtures.stdout.fnmatch_lines(["*mediconfusion_model*"])
    fixtures.stdout.fnmatch_lines(["*mediconfusion_record_outcome*"])
