"""What a newcomer reads first: --help in groups, the --dataset forms, the version, no markup."""

from __future__ import annotations

import pytest

from mediconfusion_tests import __version__
from mediconfusion_tests.cli import main


def test_pytest_help_groups_the_options(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--help", "-p", "no:cacheprovider")
    text = result.stdout.str()
    groups = ["benchmark (mediconfusion-tests)", "data", "model", "gate", "reports", "served models", "probes"]
    positions = [text.index(f"MediConfusion {group}:") for group in groups]
    assert positions == sorted(positions)
    assert "hf:ORG/NAME[@REV][:SPLIT]" in text
    assert "save_to_disk" in text
    assert "--junit-cases=" in text
    assert "``" not in text


def test_mediconfusion_version_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.strip() == f"mediconfusion-tests {__version__}"
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "``" not in capsys.readouterr().out
