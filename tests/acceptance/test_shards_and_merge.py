"""``--shard I/N`` and ``mediconfusion merge``: shards joined equal one full run, and what merge refuses."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mediconfusion_tests.cli import main
from mediconfusion_tests.data.sources import load_pairs, resolve_dataset
from mediconfusion_tests.run.shards import select

if TYPE_CHECKING:
    import pytest

SAMPLE = ("--dataset=sample", "-p", "no:cacheprovider")

#: What a merged run must share with a single full run of the same model and settings.
SAME = ("metrics", "harness_counts", "counts", "problems", "errors")


def run_shard(
    pytester: pytest.Pytester, shard: str | None, folder: str, *args: str, workers: str | None = None
) -> pytest.RunResult:
    options = [*args, *SAMPLE, f"--results-dir={folder}", *([f"--shard={shard}"] if shard else [])]
    if workers:
        return pytester.runpytest_subprocess(*options, "-n", workers)
    return pytester.runpytest(*options)


def latest(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "latest" / "results.json").read_text())


def newest(folder: Path) -> dict[str, Any]:
    runs = sorted(folder.glob("*/results.json"), key=lambda p: p.stat().st_mtime)
    return json.loads(runs[-1].read_text())


def pair_view(document: dict[str, Any]) -> list[tuple[str, str, Any]]:
    return [(p["pair_id"], p["status"], [a["decision"] for a in p["answers"] or ()]) for p in document["pairs"]]


def merge(*args: str | Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = main(["merge", *(str(a) for a in args)])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_merged_shards_equal_one_full_run(pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]) -> None:
    gate = ("--model=random", "--gate", "set_accuracy>=0.1", "--gate", "confusion<=0.5")
    full = run_shard(pytester, None, "full", *gate)
    assert full.ret == 0
    for index, workers in ((1, "2"), (2, None), (3, None)):
        shard = run_shard(pytester, f"{index}/3", f"s{index}", *gate, workers=workers)
        # A shard never gates: failed pair cases are expected, only problems fail it.
        assert shard.ret == 0, shard.stdout.str()
        shard.stdout.fnmatch_lines(
            [
                f"GATE DEFERRED: shard {index}/3 holds part of the pairs*",
                f"exit 0: shard {index}/3 ran without problems; `mediconfusion merge` decides the gate on all shards",
            ]
        )
        document = latest(pytester.path / f"s{index}")
        assert document["gate"] is None
        assert document["run"]["shard"]["index"] == index
    shard_pairs = [len(latest(pytester.path / f"s{i}")["pairs"]) for i in (1, 2, 3)]
    assert sorted(shard_pairs) == [5, 5, 6]
    status, out, err = merge(
        pytester.path / "s3" / "latest", pytester.path / "s1" / "latest", pytester.path / "s2/latest/results.json",
        "-o", pytester.path / "merged", capsys=capsys,
    )  # fmt: skip
    assert status == 0, err
    assert "merged shards 1/3, 2/3, 3/3 into " in out
    assert "exit 0: the gate passed; 13 pair case(s) failed" in out
    merged, single = latest(pytester.path / "merged"), latest(pytester.path / "full")
    for key in SAME:
        assert merged[key] == single[key], key
    assert merged["gate"] == single["gate"]
    assert pair_view(merged) == pair_view(single)  # dataset order, same answers
    assert merged["run"]["complete"] is True
    assert merged["run"]["subset"] is None
    assert [s["shard"] for s in merged["run"]["merged_from"]] == ["1/3", "2/3", "3/3"]
    # Each shard's model instances and timings, named by shard (shard 1 ran on two xdist workers).
    assert sorted(merged["model"]["instances"]) == ["1/3:gw0", "1/3:gw1", "2/3:main", "3/3:main"]
    assert sorted(merged["timing"]["workers"]) == sorted(merged["model"]["instances"])
    assert (pytester.path / "merged" / "latest" / "report.html").is_file()
    # The merged run is read back like any run: summary recomputes the same metrics.
    assert main(["summary", str(pytester.path / "merged" / "latest")]) == 0

    # ... and serves as a baseline, and is compared with one, like any run.
    status, out, _ = merge(
        *(pytester.path / f"s{i}" / "latest" for i in (1, 2, 3)),
        "-o", pytester.path / "again", "--baseline", pytester.path / "full" / "latest" / "results.json",
        "--gate", "set_accuracy>=baseline-0.01", capsys=capsys,
    )  # fmt: skip
    assert status == 0, out
    again = latest(pytester.path / "again")
    assert again["baseline"]["pairs_compared"] == 16
    assert again["baseline"]["regressions"] == []
    baseline_run = pytester.runpytest(
        "--model=random", *SAMPLE, "--results-dir=vs", "--baseline", str(pytester.path / "merged/latest/results.json")
    )
    assert latest(pytester.path / "vs")["baseline"]["pairs_compared"] == 16, baseline_run.stdout.str()


def test_merge_refuses_shards_that_are_not_one_run(
    pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_shard(pytester, "1/2", "a1", "--model=always-a").ret == 0
    assert run_shard(pytester, "2/2", "a2", "--model=always-a").ret == 0
    assert run_shard(pytester, "2/2", "b2", "--model=always-b").ret == 0
    assert run_shard(pytester, "2/2", "g2", "--model=always-a", "--mode=greedy").ret == 0
    assert run_shard(pytester, "2/3", "c2", "--model=always-a").ret == 0
    assert run_shard(pytester, None, "full", "--model=always-a").ret == 1
    a1, a2 = pytester.path / "a1/latest", pytester.path / "a2/latest"
    cases = [
        (
            (a1, pytester.path / "b2/latest"),
            "different model ('always-b' and 'always-a'); only shards of one run merge",
        ),
        ((a1, pytester.path / "g2/latest"), "different mode ('greedy' and 'mc')"),
        ((a1, pytester.path / "c2/latest"), "shards of different splits (--shard 2/3 and 1/2)"),
        ((a1, a2, pytester.path / "a2/latest/results.json"), "both are shard 2/2"),
        ((a1, pytester.path / "full/latest"), "not a shard (run "),
        ((a1, pytester.path / "nowhere"), "no results.json there"),
    ]
    for paths, message in cases:
        status, out, err = merge(*paths, "-o", pytester.path / "m", capsys=capsys)
        assert status == 4, (paths, out)
        assert message in err, err
    assert not (pytester.path / "m").exists()  # nothing written for a refused merge

    # A shard whose pair records were edited to overlap another shard's.
    overlap = pytester.path / "overlap"
    overlap.mkdir()
    document = latest(pytester.path / "a2")
    document["pairs"].append(latest(pytester.path / "a1")["pairs"][0])
    (overlap / "results.json").write_text(json.dumps(document))
    status, _, err = merge(a1, overlap, "-o", pytester.path / "m", capsys=capsys)
    assert status == 4
    assert f"both hold pair {document['pairs'][-1]['pair_id']}; shards must not overlap" in err


def test_a_missing_shard_or_a_shard_with_problems_fails_the_merged_gate(
    scripted: pytest.Pytester, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for index in (1, 2):
        assert run_shard(scripted, f"{index}/3", f"s{index}", "--model=oracle").ret == 0
    status, out, _ = merge(
        scripted.path / "s1/latest", scripted.path / "s2/latest", "-o", scripted.path / "m", "--gate",
        "set_accuracy>=0.9", "--gate-min-pairs", "all", capsys=capsys,
    )  # fmt: skip
    assert status == 1
    assert "WARNING: shard(s) 3/3 are missing from the merge" in out
    assert "PROBLEM: the gate needs 16 scored pair(s)" in out
    partial = newest(scripted.path / "m")
    assert partial["run"]["complete"] is False
    assert partial["run"]["subset"].startswith("merged shards (shard(s) 3/3 missing): 11 of the dataset's 16 pairs")
    assert not (scripted.path / "m" / "latest").exists()  # a partial run never becomes `latest`

    # A model error in shard 3: the shard exits 1, and the merged gate fails although its conditions hold.
    shard3 = [pair.id for pair in select(load_pairs(resolve_dataset("sample")), "3/3")]
    monkeypatch.setenv("MC_SCRIPT_FAIL_PAIRS", shard3[0])
    failing = run_shard(scripted, "3/3", "s3", "--model=scripted")
    assert failing.ret == 1
    failing.stdout.fnmatch_lines(["exit 1: shard 3/3 has problems (see the PROBLEM lines)"])
    monkeypatch.delenv("MC_SCRIPT_FAIL_PAIRS")
    assert run_shard(scripted, "1/3", "t1", "--model=scripted").ret == 0
    assert run_shard(scripted, "2/3", "t2", "--model=scripted").ret == 0
    status, out, _ = merge(
        scripted.path / "t1/latest", scripted.path / "t2/latest", newest_dir(scripted.path / "s3"),
        "-o", scripted.path / "m2", "--gate", "set_accuracy>=0.5", capsys=capsys,
    )  # fmt: skip
    assert status == 1, out
    assert f"PROBLEM: 1 pair(s) had model errors: {shard3[0]}" in out
    assert "GATE FAILED (conditions hold, but the run has problems: see below)" in out


def test_merged_answer_stores_answer_a_full_run(scripted: pytest.Pytester, capsys: pytest.CaptureFixture[str]) -> None:
    pytester = scripted
    for index in (1, 2):
        store = f"--answer-store={pytester.path / f'store{index}.sqlite'}"
        assert run_shard(pytester, f"{index}/2", f"s{index}", "--model=oracle", store).ret == 0
    into = pytester.path / "all.sqlite"
    sources = [str(pytester.path / "store1.sqlite"), str(pytester.path / "store2.sqlite")]
    assert main(["merge-stores", str(into), *sources]) == 0
    out = capsys.readouterr().out
    assert f"{into}: 32 answer(s) added" in out
    with sqlite3.connect(into) as db:
        assert db.execute("SELECT COUNT(*) FROM answers").fetchone()[0] == 32
    assert main(["merge-stores", str(into), sources[0]]) == 0  # again: nothing new
    assert f"{sources[0]}: 0 new answer(s)" in capsys.readouterr().out
    full = run_shard(pytester, None, "full", "--model=oracle", f"--answer-store={into}")
    assert full.ret == 0
    timing = latest(pytester.path / "full")["timing"]["workers"]
    assert sum(w["pairs_from_store"] for w in timing.values()) == 16

    (pytester.path / "junk.sqlite").write_text("not a database")
    assert main(["merge-stores", str(into), str(pytester.path / "junk.sqlite")]) == 2
    assert "junk.sqlite" in capsys.readouterr().err


def newest_dir(folder: Path) -> Path:
    runs = sorted(folder.glob("*/results.json"), key=lambda p: p.stat().st_mtime)
    return runs[-1].parent


def test_merge_counts_only_what_each_shard_was_dealt(
    pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    """Tampered shard files: invented pairs, another shard's pairs, indexes out of range, numbers that
    overflow. Each is refused (exit 4) naming the file and the pair; nothing is written."""
    assert run_shard(pytester, "1/2", "a1", "--model=always-a").ret == 0
    assert run_shard(pytester, "2/2", "a2", "--model=always-a").ret == 0
    a1, a2 = latest(pytester.path / "a1"), latest(pytester.path / "a2")

    def tampered(name: str, change: Any) -> Path:
        document = json.loads(json.dumps(a1))
        change(document)
        folder = pytester.path / name
        folder.mkdir()
        text = json.dumps(document) if not isinstance(document, str) else document
        (folder / "results.json").write_text(text.replace('"9e9999"', "1e999"))
        return folder

    def invented(document: dict[str, Any]) -> None:
        for number in range(20):
            record = json.loads(json.dumps(document["pairs"][0]))
            record["pair_id"] = f"invented-{number}"
            document["pairs"].append(record)

    def stolen(document: dict[str, Any]) -> None:
        document["pairs"].append(a2["pairs"][0])

    def index(value: int) -> Any:
        return lambda document: document["run"]["shard"].update(index=value)

    def overflow(document: dict[str, Any]) -> None:
        document["metrics"]["overall"]["set_accuracy"] = "9e9999"

    other = a2["pairs"][0]["pair_id"]
    cases = [
        (invented, "pair invented-0 is not in the dataset sample"),
        (stolen, f"pair {other} was dealt to shard 2/2, not to this shard 1/2"),
        (index(0), "shard index 0/2 is out of range (1 to 2)"),
        (index(3), "shard index 3/2 is out of range (1 to 2)"),
        (overflow, "the number 1e999 is too large: it overflows to infinity"),
    ]
    for number, (change, message) in enumerate(cases):
        folder = tampered(f"t{number}", change)
        status, out, err = merge(folder, *([pytester.path / "a2/latest"] if change is invented else []),
                                 "-o", pytester.path / "m", capsys=capsys)  # fmt: skip
        assert status == 4, (message, out, err)
        assert message in err, err
        assert str(folder) in err, err
    assert not (pytester.path / "m").exists()

    # The dataset the shards name must be the one they ran on.
    other_dataset = pytester.path / "other"
    other_dataset.mkdir()
    records = json.loads(Path(resolve_dataset("sample").file).read_text())
    records.popitem()
    (other_dataset / "dataset.json").write_text(json.dumps(records))
    status, _, err = merge(pytester.path / "a1/latest", pytester.path / "a2/latest", "--dataset", other_dataset,
                           "-o", pytester.path / "m", capsys=capsys)  # fmt: skip
    assert status == 4
    assert "is not the dataset the shards ran on" in err

    status, out, _ = merge(pytester.path / "a1/latest", pytester.path / "a2/latest", "-o", pytester.path / "m",
                           capsys=capsys)  # fmt: skip
    merged = newest(pytester.path / "m")
    assert merged["counts"]["pairs_scored"] == merged["counts"]["pairs_in_dataset"] == 16, out
