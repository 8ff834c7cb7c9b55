"""Robustness probes (--probes): each probe can fail and pass, perturbations replay from the seed,
probe answers are stored, and the roll-up reaches results.json, the reports, the gate and compare."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mediconfusion_tests.cli import main

SAMPLE = ("--dataset=sample", "-p", "no:cacheprovider")


def results_of(pytester: pytest.Pytester, folder: str = "reports") -> dict[str, Any]:
    return json.loads((pytester.path / folder / "latest" / "results.json").read_text())


def probe_run(pytester: pytest.Pytester, *args: str, workers: str | None = None) -> pytest.RunResult:
    if workers:
        return pytester.runpytest_subprocess(*args, *SAMPLE, "-n", workers)
    return pytester.runpytest(*args, *SAMPLE)


def test_order_probe_fails_an_always_a_model_and_passes_an_order_invariant_one(scripted: pytest.Pytester) -> None:
    always = probe_run(scripted, "--model=always-a", "--probes=order", "--gate", "order.consistency>=0.9")
    assert always.ret == 1
    always.stdout.fnmatch_lines(["*Probes (run seed 0*", "order*16*0.00*", "  FAIL order.consistency = 0.0000*"])
    document = results_of(scripted)
    order = document["probes"]["figures"]["order"]
    assert (order["consistency"]["k"], order["consistency"]["n"]) == (0, 16)
    assert all(p["status"] == "inconsistent" for p in document["probes"]["pairs"])
    assert document["counts"]["pairs_scored"] == 16  # the benchmark is unchanged
    assert document["problems"] == []  # failing probes are findings, not problems of the run

    invariant = probe_run(scripted, "--model=text-oracle", "--probes=all", "--gate", "order.consistency>=0.9")
    assert invariant.ret == 0, invariant.stdout.str()
    figures = results_of(scripted)["probes"]["figures"]
    assert {name: (f["consistency"]["k"], f["consistency"]["n"]) for name, f in figures.items()} == {
        "order": (16, 16),
        "paraphrase": (16, 16),
        "image": (16, 16),
    }
    assert figures["paraphrase"]["set_accuracy"]["value"] == 1.0


def test_image_probe_fails_a_pixel_sensitive_model_replays_and_is_stored(scripted: pytest.Pytester) -> None:
    args = ("--model=pixel-hash", "--probes=image", "--probe-examples=2", "--seed=5")
    first = probe_run(scripted, *args)
    assert first.ret == 1
    document = results_of(scripted)
    image = document["probes"]["pairs"]
    assert document["probes"]["figures"]["image"]["consistency"]["k"] < 16
    broken = next(p for p in image if p["status"] == "inconsistent")
    assert broken["seed"] is not None
    first.stdout.fnmatch_lines(
        [f"INCONSISTENT image {broken['pair_id']}: answered * on the perturbed images (*seed {broken['seed']}*"]
    )
    # The same seed: the same perturbations and decisions, answered from the store this time.
    second = probe_run(scripted, *args)
    again = results_of(scripted)
    assert again["probes"]["pairs"] == image
    timing = again["timing"]["workers"]
    assert sum(w["pairs"] for w in timing.values()) == 0, timing  # every answer came from the store
    assert second.ret == 1
    # Another seed draws other perturbations.
    probe_run(scripted, "--model=pixel-hash", "--probes=image", "--probe-examples=2", "--seed=6")
    other = results_of(scripted)["probes"]["pairs"]
    assert [v["params"] for p in other for v in p["variants"]] != [v["params"] for p in image for v in p["variants"]]


def test_probes_are_marked_reported_everywhere_and_equal_under_xdist(
    scripted: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    only = scripted.runpytest("--model=always-a", "--probes=all", "-m", "not probe", *SAMPLE)
    assert only.parseoutcomes()["confused"] == 16
    assert "probe" not in only.stdout.str().lower().split("= mediconfusion =")[-1].split("results:")[0]
    assert results_of(scripted)["probes"]["pairs"] == []
    marked = scripted.runpytest("--model=always-a", "--probes=all", "-m", "paraphrase", *SAMPLE)
    assert marked.parseoutcomes()["deselected"] == 16 * 3

    probe_run(scripted, "--model=text-oracle", "--probes=order,paraphrase", "--results-dir=one")
    probe_run(scripted, "--model=text-oracle", "--probes=order,paraphrase", "--results-dir=two", workers="2")
    single, spread = results_of(scripted, "one")["probes"], results_of(scripted, "two")["probes"]
    assert single["figures"] == spread["figures"]
    assert single["pairs"] == spread["pairs"]
    run = scripted.path / "one" / "latest"
    assert "Robustness probes" in (run / "report.html").read_text()
    assert "## Robustness probes" in (run / "summary.md").read_text()
    probe_run(scripted, "--model=always-a", "--probes=order,paraphrase", "--results-dir=three")
    assert main(["compare", str(run), str(scripted.path / "three" / "latest")]) == 0
    board = capsys.readouterr().out
    assert "order consistency [95% CI]" in board
    assert "paraphrase consistency [95% CI]" in board


def test_probe_gates_compare_with_a_baseline(scripted: pytest.Pytester) -> None:
    probe_run(scripted, "--model=text-oracle", "--probes=order", "--results-dir=base")
    baseline = str(scripted.path / "base" / "latest" / "results.json")
    worse = probe_run(
        scripted, "--model=always-a", "--probes=order", f"--baseline={baseline}", "--allow-baseline-mismatch",
        "--gate", "order.consistency>=baseline-0.1",
    )  # fmt: skip
    assert worse.ret == 1
    worse.stdout.fnmatch_lines(["  FAIL order.consistency = 0.0000*(baseline 1.0000 - 0.1)*"])


def test_a_replay_of_a_probed_run_reproduces_its_probes(scripted: pytest.Pytester) -> None:
    probe_run(scripted, "--model=pixel-hash", "--probes=order,paraphrase", "--results-dir=recorded")
    recorded = results_of(scripted, "recorded")
    file = scripted.path / "recorded" / "latest" / "results.json"
    replayed = probe_run(scripted, f"--model=replay:{file}", "--probes=order,paraphrase", "--results-dir=again")
    again = results_of(scripted, "again")
    assert again["probes"]["figures"] == recorded["probes"]["figures"], replayed.stdout.str()
    assert [p["status"] for p in again["probes"]["pairs"]] == [p["status"] for p in recorded["probes"]["pairs"]]


@pytest.mark.usefixtures("hf_ready")
def test_probes_on_a_real_tiny_model(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--model=demo", "--probes=all", "--probe-examples=1", *SAMPLE)
    probes = results_of(pytester)["probes"]
    assert set(probes["figures"]) == {"order", "paraphrase", "image"}, result.stdout.str()
    for figures in probes["figures"].values():
        assert figures["probed"] == 16
        assert figures["errors"] == 0
    # The image probe really perturbed the pixels: each pair's one example names its perturbation.
    image = [p for p in probes["pairs"] if p["probe"] == "image"]
    assert all(len(p["variants"]) == 1 and p["variants"][0]["params"]["kind"] for p in image)
    result.stdout.fnmatch_lines(["*Probes (run seed 0, 1 image example(s) per pair):*"])
