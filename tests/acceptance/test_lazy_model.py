"""A rerun whose answers are all stored never loads the model; the first unstored answer loads it."""

from __future__ import annotations

import json
import sqlite3
from typing import TYPE_CHECKING

import pytest
from helpers import read_results

if TYPE_CHECKING:
    from pathlib import Path

DEMO = ("--model=demo", "--dataset=sample", "--gate", "set_accuracy>=0", "-p", "no:cacheprovider")


def instances(folder: Path) -> list[dict]:
    return list(read_results(folder)["model"]["instances"].values())


def decisions(folder: Path) -> dict[str, list]:
    return {p["pair_id"]: [a.get("letter") for a in p["answers"]] for p in read_results(folder)["pairs"]}


@pytest.mark.usefixtures("hf_ready")
def test_stored_answers_need_no_model(pytester: pytest.Pytester) -> None:
    extra = ("-n", "2")
    first = pytester.runpytest_subprocess(*DEMO, *extra)
    assert first.ret == 0, first.stdout.str()
    assert all(i["model_loaded"] is True for i in instances(pytester.path))
    identities = list((pytester.path / "reports" / "identities").glob("*.json"))
    assert len(identities) == 1
    assert json.loads(identities[0].read_text())["fingerprint"].startswith("hf:")
    before = decisions(pytester.path)

    again = pytester.runpytest_subprocess(*DEMO, *extra)
    assert again.ret == 0
    timing = read_results(pytester.path)["timing"]["workers"]
    assert all(i["model_loaded"] is False for i in instances(pytester.path))
    assert {w["model_load_s"] for w in timing.values()} == {0.0}
    assert sum(w["pairs_from_store"] for w in timing.values()) == 16
    assert decisions(pytester.path) == before

    # One pair's answers gone: the first query the store cannot answer loads the model, once.
    store = sqlite3.connect(pytester.path / "reports" / "answers.sqlite")
    store.execute("DELETE FROM answers WHERE pair_id = '90105'")
    store.commit()
    store.close()
    third = pytester.runpytest_subprocess(*DEMO, *extra)
    assert third.ret == 0
    loaded = [i for i in instances(pytester.path) if i["model_loaded"]]
    assert len(loaded) == 1
    timing = read_results(pytester.path)["timing"]["workers"]
    assert sum(w["pairs"] for w in timing.values()) == 1
    assert max(w["model_load_s"] for w in timing.values()) > 0
    assert decisions(pytester.path) == before


@pytest.mark.usefixtures("hf_ready")
def test_changed_settings_load_the_model(pytester: pytest.Pytester) -> None:
    assert pytester.runpytest_subprocess(*DEMO).ret == 0
    assert pytester.runpytest_subprocess(*DEMO, "--max-new-tokens=9").ret == 0
    assert all(i["model_loaded"] is True for i in instances(pytester.path))
    assert len(list((pytester.path / "reports" / "identities").glob("*.json"))) == 2
