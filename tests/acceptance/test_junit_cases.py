"""--junit-cases=gate: the JUnit file agrees with the release gate; model errors stay failures."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pathlib import Path

SAMPLE = ("--dataset=sample", "-p", "no:cacheprovider", "--no-store")
WRONG = "90101,90102,90103"


def cases(path: Path) -> dict[str, ET.Element]:
    root = ET.parse(path).getroot()
    return {case.get("name", ""): case for case in root.iter("testcase")}


def properties(case: ET.Element) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for item in case.iter("property"):
        found.setdefault(item.get("name", ""), []).append(item.get("value", ""))
    return found


def suite(path: Path) -> ET.Element:
    root = ET.parse(path).getroot()
    return root if root.tag == "testsuite" else root.find("testsuite")  # type: ignore[return-value]


@pytest.mark.parametrize("workers", [None, "2"])
def test_a_passing_gate_gives_a_green_junit_file(
    scripted: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, workers: str | None
) -> None:
    monkeypatch.setenv("MC_SCRIPT_WRONG_PAIRS", WRONG)
    junit = scripted.path / "junit.xml"
    extra = () if workers is None else ("-n", workers)
    result = scripted.runpytest_subprocess(
        "--model=scripted",
        *SAMPLE,
        *extra,
        "--gate",
        "set_accuracy>=0.5",
        f"--junitxml={junit}",
        "--junit-cases=gate",
    )
    assert result.ret == 0
    found = cases(junit)
    wrong = [case for case in found.values() if properties(case).get("benchmark_outcome") == ["wrong"]]
    assert len(wrong) == 3
    assert all(case.find("failure") is None for case in wrong)
    assert all(properties(case)["failure_class"] == ["wrong"] for case in wrong)
    gate = found["release gate"]
    assert gate.find("failure") is None
    assert properties(gate)["verdict"] == ["PASS set_accuracy>=0.5"]
    assert suite(junit).get("failures") == "0"
    assert suite(junit).get("tests") == "17"


def test_a_failing_gate_fails_one_case_and_model_errors_stay_failures(
    scripted: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MC_SCRIPT_WRONG_PAIRS", WRONG)
    monkeypatch.setenv("MC_SCRIPT_FAIL_PAIRS", "90111")
    junit = scripted.path / "junit.xml"
    result = scripted.runpytest_subprocess(
        "--model=scripted", *SAMPLE, "--gate", "set_accuracy>=0.95", f"--junitxml={junit}", "--junit-cases=gate"
    )
    assert result.ret == 1
    found = cases(junit)
    gate = found["release gate"]
    assert gate.find("failure") is not None
    assert "FAIL set_accuracy>=0.95" in (gate.find("failure").text or "")  # type: ignore[union-attr]
    errored = [case for case in found.values() if "90111" in case.get("name", "")]
    assert errored[0].find("failure") is not None  # a model error is a problem of the run
    assert suite(junit).get("failures") == "2"


def test_outcomes_is_the_default(scripted: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MC_SCRIPT_WRONG_PAIRS", WRONG)
    junit = scripted.path / "junit.xml"
    scripted.runpytest_subprocess("--model=scripted", *SAMPLE, "--gate", "set_accuracy>=0.5", f"--junitxml={junit}")
    assert "release gate" not in cases(junit)
    assert suite(junit).get("failures") == "3"
