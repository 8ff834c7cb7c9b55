"""Probes without a run: names, perturbations replayed from the seed, images written once, roll-up and gates."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

import pytest
from PIL import Image

from mediconfusion_tests.data.perturb import FACTOR, JPEG_QUALITY, NOISE_SIGMA, SCALE, Perturbation, apply
from mediconfusion_tests.errors import ConfigError
from mediconfusion_tests.results.gate import evaluate, parse_condition, resolve_categories
from mediconfusion_tests.run.probing import draw_perturbations, probe_seed
from mediconfusion_tests.scoring.metrics import compute_metrics
from mediconfusion_tests.scoring.outcome import ImageAnswer, PairOutcome
from mediconfusion_tests.scoring.probes import (
    ProbeOutcome,
    compare_order,
    parse_probes,
    probe_figures,
)

if TYPE_CHECKING:
    from pathlib import Path


def outcome(decisions: tuple[str | None, str | None], pair_id: str = "1") -> PairOutcome:
    answers = tuple(ImageAnswer(raw=d or "?", decision=d) for d in decisions)
    return PairOutcome(pair_id, (("Cerebral",), ("Cerebral",)), ("A", "B"), answers)  # type: ignore[arg-type]


class _Pair:
    options = ("Effaced", "Not effaced")


PAIR: Any = _Pair()


def test_probe_names_parse() -> None:
    assert parse_probes("all") == ("order", "paraphrase", "image")
    assert parse_probes("image, order") == ("order", "image")
    with pytest.raises(ValueError, match="unknown probe"):
        parse_probes("order,flip")


def test_order_consistency_is_about_option_text() -> None:
    pair = PAIR
    # Always "A": the text it names changes when the options swap.
    assert not compare_order(outcome(("A", "A")), outcome(("A", "A")), pair).consistent
    # The same texts both ways: "A"/"B" on the benchmark, "B"/"A" with the options swapped.
    assert compare_order(outcome(("A", "B")), outcome(("B", "A")), pair).consistent
    # An invalid answer never holds.
    assert not compare_order(outcome((None, "B")), outcome((None, "A")), pair).consistent


def test_perturbations_replay_from_the_seed_and_stay_in_range() -> None:
    first = draw_perturbations(probe_seed(0, "90101"), 8)
    assert first == draw_perturbations(probe_seed(0, "90101"), 8)
    assert first != draw_perturbations(probe_seed(1, "90101"), 8)
    assert len(first) == 8
    for p in draw_perturbations(probe_seed(7, "x"), 40):
        low, high = {"jpeg": JPEG_QUALITY, "noise": NOISE_SIGMA, "rescale": SCALE}.get(p.kind, FACTOR)
        assert low <= p.amount <= high, p
    image = Image.new("RGB", (40, 30), (120, 60, 30))
    image.putpixel((0, 0), (255, 255, 255))  # a mark on the left: it must stay on the left
    for kind, amount in (("jpeg", 70.0), ("noise", 4.0), ("brightness", 1.1), ("contrast", 0.9), ("rescale", 1.25)):
        perturbation = Perturbation(kind, amount, seed=3)  # type: ignore[arg-type]
        data, _ = apply(image, perturbation)
        assert data == apply(image, perturbation)[0]  # byte for byte
        out = Image.open(io.BytesIO(data)).convert("RGB")
        left, right = out.getpixel((0, 0)), out.getpixel((out.width - 1, 0))
        assert isinstance(left, tuple)
        assert isinstance(right, tuple)
        assert sum(left) > sum(right), kind  # no flip


def test_roll_up_and_gates_on_probe_consistency() -> None:
    probed = [
        ProbeOutcome(
            "order",
            "1",
            (("Cerebral",), ()),
            ("A", "B"),
            (compare_order(outcome(("A", "B")), outcome(("B", "A")), PAIR),),
        ),
        ProbeOutcome(
            "order",
            "2",
            (("Cardiac",), ()),
            ("A", "A"),
            (compare_order(outcome(("A", "A")), outcome(("A", "A")), PAIR),),
        ),
        ProbeOutcome("order", "3", (("Cardiac",), ()), ("A", "A"), error="model error"),
    ]
    figures = probe_figures(probed)["order"]
    assert (figures.consistency.k, figures.consistency.n, figures.errors) == (1, 2, 1)
    assert (figures.categories["Cardiac"].k, figures.categories["Cardiac"].n) == (0, 1)
    conditions = resolve_categories(
        [parse_condition("order.consistency>=0.5"), parse_condition("order.cardiac.consistency>=0.5")],
        ["Cerebral", "Cardiac"],
    )
    assert [(c.probe, c.category) for c in conditions] == [("order", None), ("order", "Cardiac")]
    results = evaluate(conditions, compute_metrics([outcome(("A", "B"))]), probes={"order": figures})
    assert [r.passed for r in results] == [True, False]
    assert evaluate(conditions[:1], compute_metrics([outcome(("A", "B"))]))[0].passed is False  # not run: fails
    for text, message in (("consistency>=0.9", "PROBE.consistency"), ("flip.consistency>=0.9", "PROBE one of")):
        with pytest.raises(ConfigError, match=message):
            resolve_categories([parse_condition(text)], ["Cerebral"])


def test_probe_images_are_written_once(tmp_path: Path) -> None:
    from mediconfusion_tests.data.perturb import perturbed_file

    source = tmp_path / "x.png"
    Image.new("RGB", (8, 8), (10, 20, 30)).save(source)
    perturbation = Perturbation("noise", 3.0, seed=1)
    first = perturbed_file(source, perturbation, tmp_path / "out")
    assert perturbed_file(source, perturbation, tmp_path / "out") == first
    assert len(list((tmp_path / "out").iterdir())) == 1
