"""Building what one process runs with: the model, its judge and the engine.

Plain Python used by the plugin's fixtures; the chunking here is the same one
the xdist scheduler uses, so a worker answers exactly the chunks it is sent.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from mediconfusion_tests.prompts import prompt_set
from mediconfusion_tests.run.engine import Engine
from mediconfusion_tests.run.lazy_model import LazyModel, identity_key, read_identity, write_identity
from mediconfusion_tests.run.similarity import make_meter
from mediconfusion_tests.run.store import AnswerStore

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path

    from mediconfusion_tests.config import RunConfig
    from mediconfusion_tests.data.schema import Pair
    from mediconfusion_tests.models.base import Model
    from mediconfusion_tests.models.registry import Registry
    from mediconfusion_tests.run.plan import RunPlan


def load_model(registry: Registry, spec_text: str, config: RunConfig) -> Model:
    spec = registry.parse(spec_text)
    return registry.entry(spec).load_factory()(spec, config)


def preprocess_workers(setting: int | str, device: str, cores: int | None = None, xdist: int | None = None) -> int:
    """--preprocess-workers resolved. auto: none on a CPU (on this project's 2-core machines a pool only took
    the model's cores: docs/performance.md); on a GPU the host's cores shared among the xdist workers, one kept
    for the model's own process, at most 8 (enough to feed one GPU at ~170 ms of preprocessing per image)."""
    if setting != "auto":
        return int(setting)
    if not device.startswith("cuda"):
        return 0
    import os

    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    xdist = xdist or int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    return max(0, min(8, cores // max(1, xdist) - 1))


def _identity_place(registry: Registry, spec_text: str, config: RunConfig) -> tuple[Path, str] | None:
    """Where a model's recorded identity lives (beside the answer store), or None where none is kept."""
    if not config.use_store:
        return None
    spec = registry.parse(spec_text)
    version_of = registry.entry(spec).load_files_version()
    version = None if version_of is None else version_of(spec, config)
    if version is None:
        return None
    return config.answer_store_path().parent / "identities", identity_key(spec, config, version)


def recorded_identity(
    registry: Registry,
    spec_text: str,
    config: RunConfig,
    load: Callable[[], Model],
    on_load: Callable[[Model, float], None],
) -> LazyModel | None:
    """A model that loads on its first unstored answer, when an earlier load of the same files and
    settings was recorded; else None (load it now)."""
    place = _identity_place(registry, spec_text, config)
    identity = None if place is None else read_identity(*place)
    return None if identity is None else LazyModel(identity, load, on_load)


def remember_identity(registry: Registry, spec_text: str, config: RunConfig, model: Model) -> None:
    place = _identity_place(registry, spec_text, config)
    if place is not None:
        # Unwritable: the next run loads the model again, as it would without the record.
        with contextlib.suppress(OSError):
            write_identity(place[0], place[1], model)


#: Room for the judge's "A: <score>", "B: <score>" and a sentence of explanation.
JUDGE_MAX_NEW_TOKENS = 256


def judge_config(config: RunConfig) -> RunConfig:
    """The run's settings as the judge uses them: its own length, and the prompt file's temperature if it
    fixes one (the paper's judge: 0.7)."""
    judge_prompts = prompt_set(config.prompts, "default")
    temperature = config.temperature if judge_prompts.judge_temperature is None else judge_prompts.judge_temperature
    return config.but(max_new_tokens=max(config.max_new_tokens, JUDGE_MAX_NEW_TOKENS), temperature=float(temperature))


def chunking(pairs: Sequence[Pair], chunk_pairs: int) -> Callable[[str], int]:
    """Pair id -> chunk number: consecutive runs of ``chunk_pairs`` pairs in dataset order."""
    position = {pair.id: index for index, pair in enumerate(pairs)}
    return lambda pair_id: position[pair_id] // chunk_pairs


def make_engine(
    model: Model,
    judge: Model | None,
    plan: RunPlan,
    pairs: Sequence[Pair],
    selected: Sequence[str],
    isolated: Callable[[], frozenset[str]] = frozenset,
) -> Engine:
    config = plan.config
    chosen = set(selected) - set(plan.skipped)
    schedule = [pair for pair in pairs if pair.id in chosen]
    store = AnswerStore(config.answer_store_path()) if config.use_store else None
    similarity, status = (None, {"note": "no images"}) if plan.layout is None else make_meter(model, config)
    engine = Engine(
        model,
        config.mode,
        prompt_set(config.prompts, model.prompt_key),
        plan.layout,
        store,
        config.answer_parser,
        config.judge_threshold,
        batch_size=config.batch_size,
        schedule=schedule,
        chunk_of=chunking(pairs, config.chunk_pairs),
        judge=judge,
        isolated=isolated,
        similarity=similarity,
    )
    engine.similarity_status = status
    return engine
