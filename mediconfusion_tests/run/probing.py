"""Asking a pair's probe variants through the engine: the order, paraphrase and image probes.

The image probe draws its perturbations with hypothesis, used as a seeded
generator for expensive calls: a few examples (``--probe-examples``), no
deadline, no shrinking (it would ask the model again), no example database,
and a seed derived from the run seed and the pair id, recorded with the
outcome, so any example replays exactly. No pytest import here.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mediconfusion_tests.data.perturb import FACTOR, JPEG_QUALITY, NOISE_SIGMA, SCALE, Perturbation, perturbed_file
from mediconfusion_tests.scoring.probes import (
    PROBES,
    ProbeOutcome,
    ProbeSettings,
    VariantAsker,
    compare_order,
    compare_same,
    image_variant,
    paraphrased,
    swapped_options,
)

if TYPE_CHECKING:
    from mediconfusion_tests.data.schema import Pair
    from mediconfusion_tests.run.engine import Engine
    from mediconfusion_tests.scoring.outcome import PairOutcome


def probe_seed(run_seed: int, pair_id: str) -> int:
    digest = hashlib.sha256(f"{run_seed}:{pair_id}".encode()).hexdigest()
    return int(digest[:8], 16)


def perturbations() -> Any:
    """The hypothesis strategy of one perturbation within the issue's ranges (rounded, so labels read well)."""
    from hypothesis import strategies as st

    def amount(low: float, high: float) -> Any:
        return st.floats(low, high, allow_nan=False).map(lambda x: round(x, 3))

    return st.one_of(
        st.builds(Perturbation, st.just("jpeg"), st.integers(*JPEG_QUALITY).map(float)),
        st.builds(Perturbation, st.just("noise"), amount(*NOISE_SIGMA), st.integers(0, 2**31 - 1)),
        st.builds(Perturbation, st.just("brightness"), amount(*FACTOR)),
        st.builds(Perturbation, st.just("contrast"), amount(*FACTOR)),
        st.builds(Perturbation, st.just("rescale"), amount(*SCALE)),
    )


def draw_perturbations(seed: int, examples: int) -> list[Perturbation]:
    """The perturbations hypothesis draws for this seed: the same list on every run and machine."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as fixed_seed

    drawn: list[Perturbation] = []

    @fixed_seed(seed)
    @settings(
        max_examples=examples,
        deadline=None,
        phases=[Phase.generate],
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(perturbations())
    def collect(perturbation: Perturbation) -> None:
        if perturbation not in drawn:
            drawn.append(perturbation)

    collect()
    return drawn[:examples]


def _failed(probe: str, pair: Pair, original: PairOutcome, error: str, seed: int | None = None) -> ProbeOutcome:
    return ProbeOutcome(probe, pair.id, pair.categories, original.decisions, seed=seed, error=error)


def run_probe(engine: Engine, pair: Pair, probe: str, settings: ProbeSettings) -> ProbeOutcome:
    """Ask one probe (a registered one too) of one pair; model failures come back as an outcome with ``error``."""
    original = engine.benchmark_outcome(pair)
    if original.error is not None:
        return _failed(probe, pair, original, f"the benchmark question failed: {original.error}")
    definition = PROBES.get(probe)
    if definition is None:
        raise ValueError(f"unknown probe {probe!r}")
    return definition.asker()(engine, pair, original, settings)


def ask_order(engine: VariantAsker, pair: Pair, original: PairOutcome, settings: ProbeSettings) -> ProbeOutcome:
    swapped = engine.run_variant(swapped_options(pair))
    if swapped.error is not None:
        return _failed("order", pair, original, swapped.error)
    return ProbeOutcome(
        "order", pair.id, pair.categories, original.decisions, (compare_order(original, swapped, pair),)
    )


def ask_paraphrase(engine: VariantAsker, pair: Pair, original: PairOutcome, settings: ProbeSettings) -> ProbeOutcome:
    variant = paraphrased(pair)
    if variant is None:
        return _failed("paraphrase", pair, original, "the dataset has no paraphrase of this pair")
    answered = engine.run_variant(variant)
    if answered.error is not None:
        return _failed("paraphrase", pair, original, answered.error)
    result = compare_same(original, answered, "paraphrase", {"question": variant.question})
    return ProbeOutcome(
        "paraphrase", pair.id, pair.categories, original.decisions, (result,), set_correct=answered.set_correct
    )


def ask_image(engine: VariantAsker, pair: Pair, original: PairOutcome, settings: ProbeSettings) -> ProbeOutcome:
    seed = probe_seed(settings.run_seed, pair.id)
    return _image_probe(engine, pair, original, seed, settings.examples, settings.folder)


def _image_probe(
    engine: VariantAsker, pair: Pair, original: PairOutcome, seed: int, examples: int, folder: Path
) -> ProbeOutcome:
    paths = engine.image_paths(pair)
    if paths is None:
        return _failed("image", pair, original, "the model reads no pixels", seed)
    results = []
    for perturbation in draw_perturbations(seed, examples):
        params = perturbation.params()
        tag = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:10]
        images = (
            str(perturbed_file(Path(paths[0]), perturbation, folder)),
            str(perturbed_file(Path(paths[1]), perturbation, folder)),
        )
        answered = engine.run_variant(image_variant(pair, tag), images)
        if answered.error is not None:
            return _failed("image", pair, original, f"{perturbation.label()}: {answered.error}", seed)
        results.append(compare_same(original, answered, perturbation.label(), params))
    return ProbeOutcome("image", pair.id, pair.categories, original.decisions, tuple(results), seed=seed)
