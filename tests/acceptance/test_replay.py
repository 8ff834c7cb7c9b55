"""replay: re-scoring recorded answers reproduces the original harness count for count."""

from __future__ import annotations

import json
import shutil
from typing import TYPE_CHECKING

import pytest
from helpers import read_results

from mediconfusion_tests.sample.benchmark import records

if TYPE_CHECKING:
    from pathlib import Path

SAMPLE = ("--dataset=sample", "-p", "no:cacheprovider")
RAW_ANSWERS = [
    "A",
    "B",
    '("A")',
    "B.",
    "I cannot see the image",
    "A and B",
    "The answer is (B)",
    ".A:",
    'B")',
    "A\nbecause",
    "(B)",
    "b",
    '("B").',
    "A:",
    "Option A",
    "",
]


TABLES = ("set_score", "individual_score", "confused", "invalid", "valids", "valid_pairs")


# -- an independent re-statement of the original harness, used as the reference ------------
def reference_letter(answer: str | None) -> str:
    """The harness's manual clean-up and threshold check, written out again: '-' is invalid."""
    scores = {"A": 0, "B": 0}
    if answer is not None:
        tokens = answer.replace("\n", " ").split(" ")
        for letter in scores:
            forms = [
                letter,
                f"{letter}:",
                f".{letter}",
                f".{letter}:",
                f"{letter}.",
                f'{letter}")',
                f'("{letter}":',
                f'("{letter}")',
                f'("{letter}").',
            ]
            if any(form in tokens for form in forms):
                scores[letter] = 10
    if scores["A"] == scores["B"] == 10:
        scores = {"A": 0, "B": 0}
    return judged(scores["A"], scores["B"], 3)


def judged(a: float, b: float, threshold: float) -> str:
    return "A" if a >= b + threshold else "B" if b >= a + threshold else "-"


def reference_table(record: dict, c1: str, c2: str, categories: list[str]) -> dict:
    table = {name: {**dict.fromkeys(categories, 0), "total": 0} for name in TABLES}

    def bump(name: str, cats: list[str]) -> None:
        table[name]["total"] += 1
        for cat in cats:
            table[name][cat] += 1

    cat_1, cat_2 = record["category_1"], record["category_2"]
    ok1, ok2 = c1 == record["im_1_correct"], c2 == record["im_2_correct"]
    bad1, bad2 = c1 == "-", c2 == "-"
    confused = c1 == c2 and c1 != "-"
    if confused:
        bump("confused", cat_1 + cat_2)
    if ok1:
        bump("individual_score", cat_1)
    if ok2:
        bump("individual_score", cat_2)
    if bad1:
        bump("invalid", cat_1)
    if bad2:
        bump("invalid", cat_2)
    if not bad1 and not bad2:
        bump("valids", cat_1 + cat_2)
        if not confused:
            bump("valid_pairs", cat_1 + cat_2)
    if ok1 and ok2:
        bump("set_score", cat_1 + cat_2)
    return table


def add_tables(total: dict, table: dict) -> None:
    for name, row in table.items():
        for key, count in row.items():
            total[name][key] += count


CATEGORIES = sorted({c for r in records().values() for c in r["category_1"] + r["category_2"]})


def harness_file(folder: Path) -> tuple[Path, dict]:
    """An original-format answers file for the sample, with the harness's own score tables."""
    data: dict = {}
    total = {name: {**dict.fromkeys(CATEGORIES, 0), "total": 0} for name in TABLES}
    for index, (pair_id, record) in enumerate(records().items()):
        raws = RAW_ANSWERS[index % len(RAW_ANSWERS)], RAW_ANSWERS[(3 * index + 1) % len(RAW_ANSWERS)]
        letters = [reference_letter(r) for r in raws]
        answers = [
            {"full_answer": r, "A": 10 * (c == "A"), "B": 10 * (c == "B")} for r, c in zip(raws, letters, strict=True)
        ]
        if index % 4 == 0:  # some published files nest each answer once more
            answers[1] = {"answer": answers[1], "logprob": -1.5}
        table = reference_table(record, letters[0], letters[1], CATEGORIES)
        add_tables(total, table)
        data[pair_id] = {"answer": {"im1": answers[0], "im2": answers[1]}, "score": table}
    path = folder / "sample_mc.json"
    path.write_text(json.dumps(data, indent=1))
    return path, total


def test_replaying_an_original_harness_file_reproduces_its_counts(pytester: pytest.Pytester) -> None:
    path, expected = harness_file(pytester.path)
    result = pytester.runpytest(f"--model=replay:{path.name}", "--mode=mc", *SAMPLE)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    results = read_results(pytester.path)
    assert results["harness_counts"] == {name: {**row} for name, row in expected.items()}
    audit = results["model"]["audit"]
    assert (audit["format"], audit["pairs_checked"], audit["mismatches"]) == ("harness", 16, [])
    overall = results["metrics"]["overall"]
    assert overall["set_accuracy"]["k"] == expected["set_score"]["total"]
    assert overall["invalid_rate"]["k"] == expected["invalid"]["total"]
    assert overall["confusion"]["n"] == expected["valids"]["total"]


def test_replay_flags_a_file_whose_recorded_scores_disagree(pytester: pytest.Pytester) -> None:
    path, _ = harness_file(pytester.path)
    data = json.loads(path.read_text())
    data["90105"]["score"]["set_score"]["total"] += 1
    path.write_text(json.dumps(data))
    result = pytester.runpytest(f"--model=replay:{path.name}", *SAMPLE)
    result.stdout.fnmatch_lines(["WARNING: 1 replayed pair(s) differ from the scores the original harness recorded*"])
    mismatch = read_results(pytester.path)["model"]["audit"]["mismatches"]
    assert mismatch[0]["pair_id"] == "90105"


def test_robust_parser_and_disagreement_count(pytester: pytest.Pytester) -> None:
    path, _ = harness_file(pytester.path)
    pytester.runpytest(f"--model=replay:{path.name}", "--answer-parser=robust", *SAMPLE)
    robust = read_results(pytester.path)
    pytester.runpytest(f"--model=replay:{path.name}", *SAMPLE)
    paper = read_results(pytester.path)
    assert robust["parser"]["name"] == "robust"
    assert paper["parser"]["disagreements"] == robust["parser"]["disagreements"] > 0
    assert robust["metrics"]["overall"]["invalid_rate"]["k"] < paper["metrics"]["overall"]["invalid_rate"]["k"]


@pytest.mark.parametrize("threshold", [3, 6])
def test_freeform_replay_decides_with_the_judge_threshold(pytester: pytest.Pytester, threshold: int) -> None:
    scores = [(9, 2), (2, 9), (6, 5), (5, 9), (8, 8), (10, 1), (1, 7), (7, 3)]
    data, expected_set = {}, 0
    for index, (pair_id, record) in enumerate(records().items()):
        s1, s2 = scores[index % len(scores)], scores[(index + 3) % len(scores)]
        c1, c2 = judged(*s1, threshold), judged(*s2, threshold)
        expected_set += c1 == record["im_1_correct"] and c2 == record["im_2_correct"]
        im = [{"full_answer": "free text", "A": a, "B": b, "gpt_reason": "r"} for a, b in (s1, s2)]
        data[pair_id] = {"answer": {"im1": im[0], "im2": im[1]}}
    (pytester.path / "gpt4.json").write_text(json.dumps(data))
    pytester.runpytest("--model=replay:gpt4.json", "--mode=freeform", f"--judge-threshold={threshold}", *SAMPLE)
    assert read_results(pytester.path)["metrics"]["overall"]["set_accuracy"]["k"] == expected_set


def test_replaying_our_own_results_reproduces_the_run(pytester: pytest.Pytester) -> None:
    pytester.runpytest("--model=random", "--seed=3", "--mode=greedy", *SAMPLE)
    first = read_results(pytester.path)
    shutil.copy(pytester.path / "reports" / "latest" / "results.json", pytester.path / "previous.json")
    pytester.runpytest("--model=replay:previous.json", "--mode=greedy", *SAMPLE)
    again = read_results(pytester.path)
    assert again["metrics"] == first["metrics"]
    assert [p["answers"] for p in again["pairs"]] == [p["answers"] for p in first["pairs"]]


def test_missing_pairs_fail_before_anything_runs_unless_allowed(pytester: pytest.Pytester) -> None:
    path, _ = harness_file(pytester.path)
    data = json.loads(path.read_text())
    del data["90104"]
    path.write_text(json.dumps(data))
    refused = pytester.runpytest(f"--model=replay:{path.name}", *SAMPLE)
    assert refused.ret == pytest.ExitCode.USAGE_ERROR
    refused.stderr.fnmatch_lines(["*has no answers for 1 of 16 pair(s): 90104. Pass --allow-missing-answers*"])
    allowed = pytester.runpytest(f"--model=replay:{path.name}", "--allow-missing-answers", *SAMPLE)
    assert allowed.parseoutcomes()["skipped"] == 1
    allowed.stdout.fnmatch_lines(["scored 15 of 16 pairs (1 skipped)"])
    skipped = [p for p in read_results(pytester.path)["pairs"] if p["status"] == "skipped"]
    assert [(p["pair_id"], p["reason"]) for p in skipped] == [("90104", "no recorded answer in sample_mc.json")]
