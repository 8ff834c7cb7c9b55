"""`paper` prefix reads both options from one forward over the shared prompt (results.json timing.forwards_per_image).

The original harness scored every option token from the row just before the option, which under causal
attention depends only on what precedes the option; where both options' sequences agree up to there, one
forward over that prompt gives the row for both. The per-option path stays for the images where they do not
(InstructBLIP's Q-Former reads the option), for reduced precision read as the original's, and for context.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from helpers import read_results

if TYPE_CHECKING:
    from pathlib import Path

pytest.importorskip("transformers")

SAMPLE = ("--dataset=sample", "--no-store", "-p", "no:cacheprovider")
#: A conftest that turns the shared forward off: every option through its own full sequence, as before.
PER_OPTION = """
from mediconfusion_tests.models.base import LocalModel
LocalModel.share_prefix_forward = False
"""


def answers(results: dict[str, Any]) -> list[dict[str, Any]]:
    return [answer for pair in results["pairs"] for answer in pair["answers"]]


@pytest.mark.usefixtures("hf_ready")
def test_paper_prefix_does_one_forward_per_image_and_decides_as_one_forward_per_option(
    pytester: pytest.Pytester,
) -> None:
    pytester.runpytest_subprocess("--model=demo", "--mode=prefix", *SAMPLE)
    shared = read_results(pytester.path)
    assert shared["timing"]["workers"]["main"]["images_answered"] == 32
    counted = [(a["meta"]["prefix_tokens"], a["meta"]["prefix_forwards"]) for a in answers(shared)]
    # Pair 90112's options are not in their sequences as the original encodes them: scored by context, per
    # option. LLaVA's rule drops the option's first token, so options whose first words differ ("No focal...",
    # "A focal...") part before the row the original read: per option too. The rest share one forward.
    assert counted.count(("context", 2)) == 2
    assert counted.count(("paper", 1)) == 22
    assert counted.count(("paper", 2)) == 8
    assert shared["timing"]["forwards_per_image"] == sum(forwards for _, forwards in counted) / 32
    pytester.runpytest_subprocess("--model=demo", "--mode=prefix", "-k", "90101 or 90102 or 90104", *SAMPLE)
    assert read_results(pytester.path)["timing"]["forwards_per_image"] == 1.0

    pytester.makeconftest(PER_OPTION)
    pytester.runpytest_subprocess("--model=demo", "--mode=prefix", *SAMPLE)
    per_option = read_results(pytester.path)
    assert per_option["timing"]["forwards_per_image"] == 2.0
    assert {a["meta"]["prefix_forwards"] for a in answers(per_option)} == {2}
    for one, two in zip(answers(shared), answers(per_option), strict=True):
        assert one["decision"] == two["decision"]
        assert one["scores"] == pytest.approx(two["scores"], rel=1e-5)


@pytest.mark.usefixtures("hf_ready")
@pytest.mark.parametrize("mode", ["greedy", "mc"])
def test_greedy_and_mc_read_each_image_once(pytester: pytest.Pytester, mode: str) -> None:
    pytester.runpytest_subprocess("--model=demo", f"--mode={mode}", *SAMPLE)
    assert read_results(pytester.path)["timing"]["forwards_per_image"] == 1.0


@pytest.mark.usefixtures("hf_ready")
def test_where_the_option_reaches_the_image_features_each_option_has_its_forward(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    """InstructBLIP's Q-Former reads the whole text, option included: the rows before the option differ."""
    from tiny_models import build_tiny

    checkpoint = build_tiny("instructblip", tmp_path / "instructblip")
    pytester.runpytest_subprocess(f"--model=hf:{checkpoint}", "--mode=prefix", *SAMPLE)
    results = read_results(pytester.path)
    assert {a["meta"]["prefix_tokens"] for a in answers(results)} == {"paper"}
    assert {a["meta"]["prefix_forwards"] for a in answers(results)} == {2}
    assert results["timing"]["forwards_per_image"] == 2.0
