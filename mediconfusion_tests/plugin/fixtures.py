"""The suite's fixtures, registered only when --model is given, so an unrelated project never sees them."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

import pytest

from mediconfusion_tests.errors import MediConfusionError
from mediconfusion_tests.plugin.state import ALLURE_OPTION, OUTCOME_KEY, PROBE_KEY, require
from mediconfusion_tests.redaction import scrub

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from mediconfusion_tests.config import RunConfig
    from mediconfusion_tests.models.base import Model
    from mediconfusion_tests.run.engine import Engine
    from mediconfusion_tests.scoring.outcome import PairOutcome
    from mediconfusion_tests.scoring.probes import ProbeOutcome, ProbeSettings


@pytest.fixture(scope="session")
def mediconfusion_model(request: pytest.FixtureRequest) -> Iterator[Model]:
    """The model under test, loaded once per process (one per xdist worker)."""
    from mediconfusion_tests.run.runtime import recorded_identity, remember_identity

    state, plan = require(request.config)
    spec = plan.config.model or ""

    def load() -> Model:
        from mediconfusion_tests.run.runtime import preprocess_workers

        model = _load_or_stop(request, spec, plan.config, "model")
        workers = preprocess_workers(plan.config.preprocess_workers, getattr(model, "device", "cpu"))
        why_not = model.start_preprocessing(workers)
        state.model_info["preprocess_workers"] = 0 if why_not else workers
        if why_not:
            state.model_info["preprocess_note"] = f"--preprocess-workers={workers}: not used, {why_not}"
        return model

    def loaded(model: Model, seconds: float) -> None:
        state.model_info.setdefault("timing", {})["model_load_s"] = round(seconds, 3)
        state.model_info["model_loaded"] = True

    lazy = recorded_identity(state.registry, spec, plan.config, load, loaded)
    if lazy is not None:
        # Loaded on the first answer the store does not hold; a rerun of stored answers never loads it.
        model: Model = lazy
        state.model_info.update(model.describe(), model_loaded=False)
        state.model_info["timing"] = {"model_load_s": 0.0}
    else:
        started = time.perf_counter()
        model = load()
        loaded(model, time.perf_counter() - started)
        state.model_info.update(model.describe())
        remember_identity(state.registry, spec, plan.config, model)
    state.model_info["cuda_visible_devices"] = os.environ.get("CUDA_VISIBLE_DEVICES")
    yield model
    model.close()


@pytest.fixture(scope="session")
def mediconfusion_judge(request: pytest.FixtureRequest) -> Iterator[Model | None]:
    """The judge that scores free-form answers (--judge), or None."""
    from mediconfusion_tests.run.runtime import judge_config

    state, plan = require(request.config)
    if not plan.config.judge or plan.config.mode != "freeform":
        yield None
        return
    judge = _load_or_stop(request, plan.config.judge, judge_config(plan.config), "judge")
    state.model_info["judge"] = judge.describe()
    yield judge
    judge.close()


def _load_or_stop(request: pytest.FixtureRequest, spec: str, config: RunConfig, role: str) -> Model:
    """The model, or one failure that stops this process: a complete message (what is missing, what to
    install), scrubbed of secrets, instead of every pair failing with the same traceback."""
    from mediconfusion_tests.run.runtime import load_model

    state, _ = require(request.config)
    try:
        return load_model(state.registry, spec, config)
    except MediConfusionError as exc:
        failure = scrub(str(exc))
    except Exception as exc:  # noqa: BLE001 - an SDK or library refusing its settings: the same one stop
        failure = scrub(_unexpected_load_failure(exc, request.config))
    message = f"cannot load {role} {spec!r}: {failure}"
    request.session.shouldfail = message
    state.model_info["load_error"] = failure if role == "model" else f"the judge {spec!r}: {failure}"
    pytest.fail(message, pytrace=False)


def _unexpected_load_failure(exc: Exception, config: pytest.Config) -> str:
    """Not one of ours: its type and message, and with -v its traceback (never its frames' locals,
    which may hold a key)."""
    import traceback

    message = f"{type(exc).__name__}: {exc}"
    if config.get_verbosity() > 0:
        return message + "\n" + "".join(traceback.format_exception(exc))
    return message + " (run with -v for the traceback)"


@pytest.fixture(scope="session")
def mediconfusion_engine(
    mediconfusion_model: Model, mediconfusion_judge: Model | None, request: pytest.FixtureRequest
) -> Iterator[Engine]:
    """Answers pairs in batches through the answer store; one per process."""
    from mediconfusion_tests.run.runtime import make_engine

    state, plan = require(request.config)
    isolated = state.isolation.read if state.isolation is not None else frozenset
    engine = make_engine(mediconfusion_model, mediconfusion_judge, plan, state.pairs, state.selected, isolated)
    engine.upcoming = state.upcoming
    state.model_info["prompts"] = mediconfusion_model.prompt_set or engine.prompts.name
    yield engine
    state.model_info.setdefault("timing", {}).update(
        answering_s=round(engine.answering_s, 6), pairs=engine.pairs_answered, pairs_from_store=engine.pairs_from_store
    )
    counts = mediconfusion_model.forward_counts()
    if counts is not None:
        state.model_info["timing"].update(image_forwards=counts[0], images_answered=counts[1])
    pool = mediconfusion_model.preprocess_facts()
    if pool is not None:
        state.model_info["timing"]["preprocess_pool"] = pool
    if engine.usage["answers"]:
        state.model_info["usage"] = dict(engine.usage)
    sent = getattr(mediconfusion_model, "requests_sent", None)
    if isinstance(sent, int) and sent:
        state.model_info.setdefault("usage", dict(engine.usage))["requests"] = sent
        state.model_info["requests_sent"] = sent
        state.model_info["max_in_flight"] = getattr(mediconfusion_model, "max_in_flight", None)
    if engine.batcher.store is not None:
        state.model_info["store_unreadable"] = engine.batcher.store.unreadable
        engine.batcher.store.close()
    if engine.similarity is not None:
        engine.similarity_status.update(engine.similarity.status())
        engine.similarity.close()
    state.model_info["encoder_similarity"] = engine.similarity_status


@pytest.fixture
def mediconfusion_record_outcome(request: pytest.FixtureRequest) -> Callable[[PairOutcome], None]:
    """Attach a pair outcome to this test's report, for the controller's roll-up.

    The full outcome travels as an attribute of the report (xdist serialises it);
    user properties get only what a JUnit XML reader wants: class and categories.
    """

    def record(outcome: PairOutcome) -> None:
        request.node.stash[OUTCOME_KEY] = outcome.to_dict()
        categories = sorted(set(outcome.categories[0]) | set(outcome.categories[1]))
        request.node.user_properties.append(("failure_class", outcome.failure_class or "passed"))
        request.node.user_properties.append(("categories", "; ".join(categories)))
        if request.config.getoption(ALLURE_OPTION, default=None):
            _annotate_allure(request.config, outcome)

    return record


@pytest.fixture
def mediconfusion_record_probe(request: pytest.FixtureRequest) -> Callable[[ProbeOutcome], None]:
    """Attach a probe outcome to this test's report, for the controller's roll-up."""

    def record(outcome: ProbeOutcome) -> None:
        request.node.stash[PROBE_KEY] = outcome.to_dict()
        consistent = outcome.consistent
        request.node.user_properties.append(
            ("probe_result", "error" if consistent is None else ("consistent" if consistent else "inconsistent"))
        )
        if request.config.getoption(ALLURE_OPTION, default=None):
            from mediconfusion_tests.reporting.allure_case import annotate_probe

            annotate_probe(outcome)

    return record


@pytest.fixture(scope="session")
def mediconfusion_probe_settings(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> ProbeSettings:
    """The run seed, --probe-examples, and where the image probe writes its perturbed copies (named by
    content, so reruns find their answers in the store)."""
    from mediconfusion_tests.scoring.probes import ProbeSettings

    _, plan = require(request.config)
    folder = tmp_path_factory.mktemp("mediconfusion-probe-images")
    return ProbeSettings(plan.config.seed, plan.config.probe_examples, folder)


def _annotate_allure(config: pytest.Config, outcome: PairOutcome) -> None:
    from mediconfusion_tests.reporting.allure_case import annotate

    state, plan = require(config)
    pair = next((p for p in state.pairs if p.id == outcome.pair_id), None)
    if pair is not None:
        annotate(outcome, pair, plan.layout, plan.config)
