"""--encoder-similarity end to end: per-pair similarity in results.json, the chart, the terminal line."""

from __future__ import annotations

import json
import math

import pytest
from helpers import read_results

SAMPLE = ("--dataset=sample", "-p", "no:cacheprovider")

#: A reference encoder whose calls leave a trace, so a rerun can show it read the embedding cache instead.
REFERENCE = """
from pathlib import Path

import numpy as np


def embed(images):
    with Path(__file__).with_name("calls.txt").open("a") as log:
        log.write(f"{len(images)}\\n")
    return np.array([np.asarray(image.convert("L").resize((8, 8)), dtype=np.float32).ravel() - 128 for image in images])
"""


def similarities(pytester: pytest.Pytester) -> dict[str, dict]:
    return {p["pair_id"]: p["similarity"] for p in read_results(pytester.path)["pairs"]}


@pytest.mark.usefixtures("hf_ready")
def test_every_pair_of_a_local_model_carries_its_encoder_similarity(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(reference_colour=REFERENCE)
    reference = "--similarity-reference=python:reference_colour:embed"
    result = pytester.runpytest("--model=demo", reference, *SAMPLE)
    result.stdout.fnmatch_lines(
        [
            "confused pairs: median encoder similarity 0.* vs 0.* for pairs answered right "
            "(reference python:reference_colour:embed: * vs *)"
        ]
    )
    results = read_results(pytester.path)
    found = similarities(pytester)
    assert len(found) == 16
    assert all(-1 <= s["model"] <= 1 and -1 <= s["reference"] <= 1 for s in found.values())
    assert len({s["model"] for s in found.values()}) > 8  # pairs differ, not one constant
    summary = results["encoder_similarity"]
    assert summary["pooling"].startswith("get_image_features")
    assert summary["reference"] == "python:reference_colour:embed"
    assert summary["pairs"] == 16
    valid = [p for p in results["pairs"] if p["valid"]]
    assert sum(b["confusion"]["n"] for b in summary["bins"]) == len(valid)
    assert sum(b["confusion"]["k"] for b in summary["bins"]) == sum(p["confused"] for p in valid)
    lows = [b["low"] for b in summary["bins"]]
    assert lows == sorted(lows)
    confused = sorted(
        s["model"] for pid, s in found.items() if next(p for p in valid if p["pair_id"] == pid)["confused"]
    )
    assert math.isclose(
        summary["median_confused"],
        (confused[(len(confused) - 1) // 2] + confused[len(confused) // 2]) / 2,
        abs_tol=1e-6,
    )
    html = (pytester.path / "reports" / "latest" / "report.html").read_text()
    assert 'id="encoder"' in html
    assert 'aria-label="Confusion against encoder similarity"' in html
    assert (
        "confused pairs: median encoder similarity" in (pytester.path / "reports" / "latest" / "summary.md").read_text()
    )

    # A rerun reads every vector from the embedding cache: the reference is not called again.
    calls = (pytester.path / "calls.txt").read_text()
    pytester.runpytest("--model=demo", reference, *SAMPLE)
    assert (pytester.path / "calls.txt").read_text() == calls
    assert similarities(pytester) == found

    # Two workers measure the same pairs alike.
    pytester.runpytest_subprocess("--model=demo", reference, "--no-cache", "-n", "2", *SAMPLE)
    assert similarities(pytester) == found


@pytest.mark.usefixtures("hf_ready")
def test_off_means_nothing_measured_and_nothing_said(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--model=demo", "--encoder-similarity=off", "--no-cache", *SAMPLE)
    assert "encoder similarity" not in result.stdout.str()
    results = read_results(pytester.path)
    assert all(p["similarity"] is None for p in results["pairs"])
    assert results["encoder_similarity"]["notes"] == ["off (--encoder-similarity=off)"]
    assert 'id="encoder"' not in (pytester.path / "reports" / "latest" / "report.html").read_text()


def test_a_model_without_vision_features_says_so(scripted: pytest.Pytester) -> None:
    result = scripted.runpytest("--model=scripted", *SAMPLE)
    result.stdout.fnmatch_lines(["encoder similarity: not available: scripted is an API, served or replayed model"])
    document = json.loads((scripted.path / "reports" / "latest" / "results.json").read_text())
    assert document["encoder_similarity"]["pairs"] == 0
