"""results.json schema v2: the published schema, round trips, unknown fields and versions refused."""

from __future__ import annotations

import json

import pytest
from helpers import REPO, make_document, outcome, results_validator
from hypothesis import given
from hypothesis import strategies as st

from mediconfusion_tests.cli import main
from mediconfusion_tests.config import RunConfig
from mediconfusion_tests.data.sources import DatasetInfo
from mediconfusion_tests.results.document import json_schema, parse_document
from mediconfusion_tests.run.plan import RunPlan
from mediconfusion_tests.scoring.outcome import ImageAnswer, PairOutcome


def test_the_published_schema_is_the_one_the_code_validates_with(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json_schema()
    assert json.loads((REPO / "docs" / "results.schema.json").read_text()) == printed, (
        "docs/results.schema.json is stale: run `mediconfusion schema -o docs/results.schema.json`"
    )


def test_unknown_fields_and_versions_are_refused() -> None:
    data = json.loads(make_document([outcome("1")]).to_json())
    data["counts"]["surprise"] = 1
    with pytest.raises(ValueError, match=r"'counts\.surprise': extra inputs are not permitted"):
        parse_document(data, "x.json")
    data["schema_version"] = 3
    with pytest.raises(ValueError, match="schema_version 3 is not one this mediconfusion-tests reads"):
        parse_document(data, "x.json")


# -- round trips ---------------------------------------------------------------------------------------------
LETTER = st.sampled_from(["A", "B"])

TEXT = st.text(max_size=12)

ANSWER = st.builds(
    ImageAnswer,
    raw=st.none() | TEXT,
    decision=st.none() | LETTER,
    scores=st.dictionaries(LETTER, st.floats(allow_nan=False, allow_infinity=False, width=32), max_size=2),
    alternative_decision=st.none() | LETTER,
    cached=st.booleans(),
    model_letter=st.none() | LETTER,
    meta=st.dictionaries(st.text(max_size=4), st.integers() | TEXT, max_size=2),
)

CATEGORIES = st.lists(st.sampled_from(["Cerebral", "Cardiac", "Head and Neck"]), min_size=1, max_size=2).map(tuple)

OUTCOME = st.builds(
    PairOutcome,
    pair_id=st.text(min_size=1, max_size=8),
    categories=st.tuples(CATEGORIES, CATEGORIES),
    truth=st.sampled_from([("A", "B"), ("B", "A")]),
    answers=st.none() | st.tuples(ANSWER, ANSWER),
    error=st.none() | TEXT,
    prompts=st.tuples(TEXT, TEXT),
)


@given(OUTCOME)
def test_pair_outcomes_survive_the_trip_to_the_controller(value: PairOutcome) -> None:
    assert PairOutcome.from_dict(json.loads(json.dumps(value.to_dict()))) == value


CONFIG = st.builds(
    RunConfig,
    model=st.none() | TEXT,
    mode=st.sampled_from(["mc", "greedy", "prefix", "freeform"]),
    seed=st.integers(-(2**31), 2**31),
    gates=st.lists(TEXT, max_size=2).map(tuple),
    batch_size=st.just("auto") | st.integers(1, 64),
    gate_min_pairs=st.none() | st.just("all") | st.integers(1, 200),
    top_p=st.none() | st.floats(0.01, 1.0),
)


@given(CONFIG)
def test_run_configs_round_trip(config: RunConfig) -> None:
    assert RunConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


@given(CONFIG, st.dictionaries(TEXT, TEXT, max_size=3), st.lists(TEXT, max_size=3))
def test_run_plans_round_trip_through_workerinput(
    config: RunConfig, skipped: dict[str, str], warnings: list[str]
) -> None:
    plan = RunPlan(
        "run",
        config,
        DatasetInfo(source="path", file="d.json", sha256="ab"),
        None,
        skipped,
        ("Cardiac",),
        ("0",),
        tuple(warnings),
    )
    assert RunPlan.from_dict(json.loads(json.dumps(plan.to_dict()))) == plan


@given(st.lists(OUTCOME, max_size=6, unique_by=lambda o: o.pair_id))
def test_results_documents_round_trip_and_keep_their_outcomes(outcomes: list[PairOutcome]) -> None:
    document = make_document(outcomes)
    again = parse_document(json.loads(document.to_json()), "x")
    assert again == document
    assert again.outcomes() == [o for o in outcomes]
    results_validator().validate(json.loads(document.to_json()))
