"""The suite end to end through pytester: demo, xdist equality, gates, markers, outputs."""

from __future__ import annotations

import json

import pytest
from helpers import read_results, read_run

SAMPLE = ("--dataset=sample", "-p", "no:cacheprovider")


def run(pytester: pytest.Pytester, *args: str, workers: str | None = None) -> pytest.RunResult:
    if workers is None:
        return pytester.runpytest(*args, *SAMPLE)
    return pytester.runpytest_subprocess(*args, *SAMPLE, "-n", workers)


def metrics_of(pytester: pytest.Pytester) -> dict:
    return read_results(pytester.path)["metrics"]


@pytest.mark.usefixtures("hf_ready")
def test_demo_runs_real_inference_and_shows_a_mix_of_outcomes(pytester: pytest.Pytester) -> None:
    result = run(pytester, "--model=demo")
    assert result.ret == pytest.ExitCode.TESTS_FAILED  # no gate: normal pytest semantics
    result.stdout.fnmatch_lines(
        [
            "*= MediConfusion =*",
            "model demo · mode mc · dataset sample*",
            "scored 16 of 16 pairs",
            "NOTE: demo model: a tiny LLaVA trained for seconds on synthetic scenes*",
            "CONFUSED 9*: answered * for both images",
            "Category*Images*Set acc.*Indiv. acc.*Confusion*Invalid*Valid pairs",
            "Cerebral*10*",
            "All*32*",
            "set accuracy *one pair = 6.25 points*",
            "failing pairs: * confused*",
            "results: *results.json",
            "summary: *summary.md",
        ]
    )
    assert result.stdout.lines[-1].startswith("exit 1: ")
    results = read_results(pytester.path)
    assert results["counts"]["pairs_scored"] == 16
    # Valid answers that a reader can learn from: some pairs right, some confused, none garbled.
    classes = results["counts"]["failure_classes"]
    passed = sum(1 for p in results["pairs"] if p["status"] == "passed")
    assert passed >= 4, (passed, classes)
    assert classes.get("confused", 0) >= 2, (passed, classes)
    assert results["metrics"]["overall"]["invalid_rate"]["value"] <= 0.1
    outcomes = result.parseoutcomes()
    assert outcomes["passed"] == passed
    assert outcomes["confused"] == classes["confused"]
    instance = next(iter(results["model"]["instances"].values()))
    assert instance["class"] == "LlavaForConditionalGeneration"
    assert instance["fingerprint"].startswith("hf:")
    assert "demo-llava" in instance["fingerprint"]
    assert (instance["family"], instance["device"], instance["dtype"]) == ("llava", "cpu", "float32")
    assert all(len(p["prompts"]) == 2 for p in results["pairs"])


@pytest.mark.usefixtures("hf_ready")
@pytest.mark.parametrize("mode", ["greedy", "prefix"])
def test_demo_scores_modes_identically_with_and_without_xdist(pytester: pytest.Pytester, mode: str) -> None:
    run(pytester, "--model=demo", f"--mode={mode}", "--no-cache")
    alone = read_results(pytester.path)
    run(pytester, "--model=demo", f"--mode={mode}", "--no-cache", workers="2")
    spread = read_results(pytester.path)
    assert spread["metrics"] == alone["metrics"]
    assert [p["answers"] for p in spread["pairs"]] == [p["answers"] for p in alone["pairs"]]
    assert all(a["scores"] and a["model_letter"] in "AB" for p in alone["pairs"] for a in p["answers"])


def test_metrics_are_identical_with_n0_n2_and_n_auto(pytester: pytest.Pytester) -> None:
    run(pytester, "--model=random", "--seed=7")
    alone = metrics_of(pytester)
    run(pytester, "--model=random", "--seed=7", workers="2")
    assert metrics_of(pytester) == alone
    run(pytester, "--model=random", "--seed=7", workers="auto")
    assert metrics_of(pytester) == alone
    run(pytester, "--model=random", "--seed=8")
    assert metrics_of(pytester) != alone  # the seed matters


@pytest.mark.parametrize("workers", [None, "2"])
def test_gate_verdict_is_the_exit_status(pytester: pytest.Pytester, workers: str | None) -> None:
    failing = run(pytester, "--model=random", "--gate", "set_accuracy>=0.25", workers=workers)
    assert failing.ret == 1
    failing.stdout.fnmatch_lines(
        ["GATE FAILED", "  FAIL set_accuracy = 0.1875 [[]95% CI 0.066-0.430[]] (n=16)*>= 0.25"]
    )
    passing = run(
        pytester, "--model=random", "--gate", "set_accuracy>=0.1", "--gate", "confusion<=0.5", workers=workers
    )
    assert passing.ret == 0  # 13 failed pair cases, but the gate holds
    passing.stdout.fnmatch_lines(
        [
            "*3 passed, 7 confused, 6 wrong*",
            "*= MediConfusion =*",
            "GATE PASSED",
            "  PASS set_accuracy*",
            "  PASS confusion = 0.4375*",
            "exit 0: the gate passed; 13 pair case(s) failed, as they may for a model below 100% set accuracy",
        ]
    )
    assert passing.stdout.lines[-1].startswith("exit 0: the gate passed")
    assert "Traceback" not in passing.stdout.str()
    assert "FAILED test_pairs.py" not in passing.stdout.str()
    gate = read_results(pytester.path)["gate"]
    assert gate["passed"] is True
    assert [c["condition"] for c in gate["conditions"]] == ["set_accuracy>=0.1", "confusion<=0.5"]


def test_category_gate_and_gate_from_pyproject(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml('[tool.mediconfusion]\ngate = ["Cerebral.set_accuracy>=0.5"]\n')
    result = run(pytester, "--model=random")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["  FAIL Cerebral.set_accuracy = 0.0000*"])
    overridden = run(pytester, "--model=random", "--gate", "Cerebral.set_accuracy>=0")
    assert overridden.ret == 0


def test_a_model_that_can_see_passes(scripted: pytest.Pytester) -> None:
    result = run(scripted, "--model=oracle", "--gate", "set_accuracy>=0.95", "--gate", "confusion<=0")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*16 passed*", "All*32*100.00*100.00*0.00*0.00*16", "GATE PASSED", "exit 0: *"])


def test_model_errors_are_never_hidden_by_a_passing_gate(
    scripted: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MC_SCRIPT_FAIL_PAIRS", "90103")
    result = run(scripted, "--model=scripted", "--gate", "set_accuracy>=0.5", "--no-cache")
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        [
            "*15 passed, 1 model error*",
            "ERROR 90103: RuntimeError: scripted failure on pair 90103*",
            "GATE FAILED (conditions hold, but the run has problems: see below)",
            "PROBLEM: 1 pair(s) had model errors: 90103",
            "exit 1: the gate failed: the run has problems",
        ]
    )
    record = next(p for p in read_results(scripted.path)["pairs"] if p["pair_id"] == "90103")
    assert (record["status"], record["failure_class"]) == ("error", "error")


@pytest.mark.parametrize("workers", [None, "2"])
def test_a_model_that_fails_to_load_fails_the_gate(scripted: pytest.Pytester, workers: str | None) -> None:
    result = run(scripted, "--model=broken-load", "--gate", "set_accuracy>=0", workers=workers)
    assert result.ret == 1
    # Once per process, before the first pair, with the reason; not 16 identical tracebacks.
    errors = 1 if workers is None else 2
    result.stdout.fnmatch_lines(
        [
            f"*{errors} error{'s' if errors > 1 else ''} in *",
            "PROBLEM: the model could not be loaded: weights file is corrupt (scripted load failure)",
            "exit 1: the model could not be loaded (see the PROBLEM line above)",
        ]
    )
    text = result.stdout.str()
    # Per process: the error's section, its summary line (in full when CI is set) and pytest's stop line.
    assert text.count("cannot load model 'broken-load'") <= 3 * errors
    assert "During handling of the above exception" not in text
    # The report says first that nothing was scored, and why; no tiles of dashes that read like a result.
    report = next((scripted.path / "reports").glob("*/report.html")).read_text()
    assert 'id="no-results"><h2>No results: this run scored none of the 16 pairs' in report
    assert "weights file is corrupt (scripted load failure)</li>" in report
    assert "One pair is" not in report
    assert 'id="metric-set_accuracy"' not in report
    assert read_run(scripted.path)["problems"][0].startswith("the model could not be loaded: weights file")


def test_category_marks_select_subsets_under_strict_markers(pytester: pytest.Pytester) -> None:
    result = run(pytester, "--model=always-a", "-m", "cerebral", "--strict-markers")
    assert result.parseoutcomes() == {"confused": 5, "deselected": 11}
    results = read_results(pytester.path)
    assert {p["pair_id"] for p in results["pairs"]} == {"90101", "90102", "90103", "90112", "90114"}
    assert results["metrics"]["overall"]["confusion"]["value"] == 1.0
    assert results["problems"] == []


def test_stable_test_ids_and_one_line_failures(pytester: pytest.Pytester) -> None:
    result = run(pytester, "--model=always-b", "--collect-only", "-q")
    result.stdout.fnmatch_lines(["*test_pairs.py::test_pair[[]pair-90101[]]", "*test_pair[[]pair-90116[]]"])
    # By default a failing pair is one line in the MediConfusion section; -v / --tb bring pytest's detail back.
    failed = run(pytester, "--model=always-b", "-k", "pair-90101")
    failed.stdout.fnmatch_lines(["test_pairs.py C*", "CONFUSED 90101: answered B for both images"])
    assert "_ test_pair[pair-90101] _" not in failed.stdout.str()
    detailed = run(pytester, "--model=always-b", "-k", "pair-90101", "-v", "--tb=short")
    detailed.stdout.fnmatch_lines(
        [
            "*test_pair[[]pair-90101[]] CONFUSED*",
            "*_ test_pair[[]pair-90101[]] _*",
            "*confused: answered B for both images",
            "CONFUSED *pair-90101*",
        ]
    )


def test_outputs_written_and_latest_updated(pytester: pytest.Pytester) -> None:
    run(pytester, "--model=random")
    first = (pytester.path / "reports" / "latest").resolve()
    run(pytester, "--model=always-a", "--results-dir", "out")
    results = json.loads((pytester.path / "out" / "latest" / "results.json").read_text())
    assert (pytester.path / "reports" / "latest").resolve() == first
    assert results["schema"] == "mediconfusion-tests/results"
    assert results["schema_version"] == 2
    assert results["dataset"]["source"] == "sample"
    assert results["config"]["model"] == "always-a"
    assert set(results["environment"]["packages"]) >= {"pytest", "torch", "transformers"}
    assert results["harness_counts"]["confused"]["total"] == 16
    summary = (pytester.path / "out" / "latest" / "summary.md").read_text()
    assert "| Category | Images | Set acc. |" in summary
    assert "| **All** | **32** | **0.00** |" in summary


def test_pyargs_runs_the_shipped_suite_from_anywhere(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_unrelated="def test_other():\n    pass\n")
    result = pytester.runpytest("--pyargs", "mediconfusion_tests", "--model=always-a", *SAMPLE)
    assert result.parseoutcomes() == {"confused": 16}


def test_without_model_the_plugin_stays_out_of_the_way(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_unrelated="def test_other():\n    pass\n")
    pytester.runpytest().assert_outcomes(passed=1)
    assert not (pytester.path / "reports").exists()
    suite = pytester.runpytest("--pyargs", "mediconfusion_tests.suite")
    assert suite.ret != 0
    suite.stdout.fnmatch_lines(["*the MediConfusion suite needs --model=NAME*"])


def test_each_worker_is_pinned_to_its_own_gpu(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "5,7")
    run(pytester, "--model=random", "--batch-size=4", workers="2")
    instances = read_results(pytester.path)["model"]["instances"]
    assert {name: i["cuda_visible_devices"] for name, i in instances.items()} == {"gw0": "5", "gw1": "7"}
