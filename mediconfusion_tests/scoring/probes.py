"""Robustness probes around each pair: the variants asked, when a pair counts as consistent, the roll-up.

* ``order``: both images asked with the options swapped (truth swapped with them); consistent when each
  image's decision names the same option *text* both ways.
* ``paraphrase``: both images asked with the dataset's paraphrase (``AI_question``, ``AI_option_A``,
  ``AI_option_B``; the letters keep their meaning); consistent when both decisions equal the original's.
  The paraphrased pairs are also scored as a benchmark of their own (set accuracy).
* ``image``: both images perturbed (see ``data/perturb.py``) in several examples drawn by hypothesis;
  consistent when no example changes a decision.

An invalid answer on either side is never consistent: a probe cannot show the decision held.
No pytest import here.
"""

from __future__ import annotations

import importlib
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import ConfigDict, Field

from mediconfusion_tests.extensions import Registry
from mediconfusion_tests.records import Record
from mediconfusion_tests.scoring.letters import Letter
from mediconfusion_tests.scoring.stats import Proportion

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from pathlib import Path

    from mediconfusion_tests.data.schema import Pair
    from mediconfusion_tests.scoring.outcome import PairOutcome


class VariantAsker(Protocol):
    """What a probe may ask of the run (the engine): a variant of a pair, and where the pair's images are."""

    def run_variant(self, pair: Pair, images: tuple[str, str] | None = None) -> PairOutcome: ...

    def image_paths(self, pair: Pair) -> tuple[str, str] | None: ...


@dataclass(frozen=True)
class ProbeSettings:
    run_seed: int
    examples: int
    #: Where perturbed copies of images are written.
    folder: Path


#: ask(run, pair, the pair's benchmark outcome, settings) -> the probe's outcome for that pair.
AskProbe = Callable[[VariantAsker, "Pair", "PairOutcome", ProbeSettings], "ProbeOutcome"]


@dataclass(frozen=True)
class Probe:
    """A robustness probe: asks variants of a pair and says whether the decisions held. ``ask`` is the
    function, or "module:function" imported when the probe first runs (so naming it costs nothing)."""

    ask: AskProbe | str
    help: str = ""

    def asker(self) -> AskProbe:
        if callable(self.ask):
            return self.ask
        module, _, name = self.ask.partition(":")
        found: AskProbe = getattr(importlib.import_module(module), name)
        return found


def _probe(item: object) -> Probe:
    if not isinstance(item, Probe):
        raise TypeError(f"a probe must be a mediconfusion_tests.scoring.probes.Probe, got {item!r:.80}")
    return item


#: --probes: ours (order, paraphrase, image; asked by run/probing.py) and any registered.
PROBES: Registry[Probe] = Registry("probes", _probe)
PROBES.register("order", Probe("mediconfusion_tests.run.probing:ask_order", "the options swapped"))
PROBES.register(
    "paraphrase",
    Probe("mediconfusion_tests.run.probing:ask_paraphrase", "the dataset's paraphrase of the question"),
)
PROBES.register("image", Probe("mediconfusion_tests.run.probing:ask_image", "seeded perturbations of the images"))
#: Joins a pair id and the probe variant in the ids variants are asked (and stored) under.
VARIANT_SEPARATOR = "~"
PARAPHRASE_FIELDS = ("AI_question", "AI_option_A", "AI_option_B")


def parse_probes(text: str) -> tuple[str, ...]:
    """``all`` or a comma-separated subset of PROBES, in PROBES order; ValueError names what is unknown."""
    known = PROBES.names()
    names = [n.strip() for n in text.split(",") if n.strip()]
    if names == ["all"]:
        return known
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise ValueError(f"unknown probe(s) {', '.join(unknown) or repr(text)}; choose all or from {', '.join(known)}")
    return tuple(p for p in known if p in names)


def variant_id(pair_id: str, variant: str) -> str:
    return f"{pair_id}{VARIANT_SEPARATOR}{variant}"


def swapped_options(pair: Pair) -> Pair:
    flip = {"A": "B", "B": "A"}
    return replace(
        pair,
        id=variant_id(pair.id, "order"),
        options=(pair.options[1], pair.options[0]),
        truth=(flip[pair.truth[0]], flip[pair.truth[1]]),  # type: ignore[arg-type]
    )


def paraphrased(pair: Pair) -> Pair | None:
    """The pair in the dataset's own paraphrase, or None when its record has none."""
    extra = dict(pair.extra)
    values = [extra.get(name) for name in PARAPHRASE_FIELDS]
    if not all(isinstance(v, str) and v.strip() for v in values):
        return None
    question, option_a, option_b = (str(v).strip() for v in values)
    return replace(pair, id=variant_id(pair.id, "paraphrase"), question=question, options=(option_a, option_b))


def image_variant(pair: Pair, tag: str) -> Pair:
    return replace(pair, id=variant_id(pair.id, f"image-{tag}"))


def _texts(outcome: PairOutcome, options: tuple[str, str]) -> list[str | None]:
    return [options[0 if d == "A" else 1] if d in ("A", "B") else None for d in outcome.decisions]


class VariantResult(Record):
    """One variant of a pair as asked: its label, decisions, and whether they held (as results.json records it)."""

    model_config = ConfigDict(frozen=True)

    variant: str
    decisions: tuple[Letter | None, Letter | None]
    consistent: bool
    raw: tuple[str | None, str | None] = (None, None)
    params: dict[str, Any] = Field(default_factory=dict)
    #: The id the variant was asked (and stored) under, e.g. ``10001~order``, and its answers' scores:
    #: with the raw texts, what a replay of the run needs.
    variant_id: str = ""
    scores: tuple[dict[str, float], dict[str, float]] = ({}, {})


def compare_order(original: PairOutcome, swapped: PairOutcome, pair: Pair) -> VariantResult:
    before = _texts(original, pair.options)
    after = _texts(swapped, (pair.options[1], pair.options[0]))
    held = all(b is not None and b == a for b, a in zip(before, after, strict=True))
    return VariantResult(
        variant="order",
        decisions=swapped.decisions,
        consistent=held,
        raw=_raw(swapped),
        variant_id=swapped.pair_id,
        scores=_scores(swapped),
    )


def compare_same(original: PairOutcome, variant: PairOutcome, label: str, params: dict[str, Any]) -> VariantResult:
    held = all(o is not None and o == v for o, v in zip(original.decisions, variant.decisions, strict=True))
    return VariantResult(
        variant=label,
        decisions=variant.decisions,
        consistent=held,
        raw=_raw(variant),
        params=params,
        variant_id=variant.pair_id,
        scores=_scores(variant),
    )


def _scores(outcome: PairOutcome) -> tuple[dict[str, float], dict[str, float]]:
    answers = outcome.answers
    return ({}, {}) if answers is None else (dict(answers[0].scores), dict(answers[1].scores))


def _raw(outcome: PairOutcome) -> tuple[str | None, str | None]:
    answers = outcome.answers
    return (None, None) if answers is None else (answers[0].raw, answers[1].raw)


@dataclass(frozen=True)
class ProbeOutcome:
    """A probe of one pair: consistent or not (None: it could not be asked), and every variant asked."""

    probe: str
    pair_id: str
    categories: tuple[tuple[str, ...], tuple[str, ...]]
    original: tuple[str | None, str | None]
    variants: tuple[VariantResult, ...] = ()
    #: paraphrase: both paraphrased images answered right.
    set_correct: bool | None = None
    seed: int | None = None
    error: str | None = None

    @property
    def consistent(self) -> bool | None:
        if self.error is not None or not self.variants:
            return None
        return all(v.consistent for v in self.variants)

    @property
    def all_categories(self) -> tuple[str, ...]:
        return tuple(sorted(set(self.categories[0]) | set(self.categories[1])))

    def failure_message(self) -> str | None:
        if self.error is not None:
            return f"{self.probe} probe of pair {self.pair_id}: {self.error}"
        broken = [v for v in self.variants if not v.consistent]
        if not broken:
            return None
        first = broken[0]
        shown = f"answered {_letters(self.original)} on the benchmark, {_letters(first.decisions)} {_how(first)}"
        more = f" ({len(broken)} of {len(self.variants)} examples changed)" if len(self.variants) > 1 else ""
        seed = f"; hypothesis seed {self.seed}" if self.seed is not None else ""
        return f"{self.probe.upper()} {self.pair_id}: {shown}{more}{seed}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "probe": self.probe,
            "pair_id": self.pair_id,
            "categories": [list(self.categories[0]), list(self.categories[1])],
            "original": list(self.original),
            "variants": [v.model_dump() for v in self.variants],
            "set_correct": self.set_correct,
            "seed": self.seed,
            "error": self.error,
            "consistent": self.consistent,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProbeOutcome:
        categories = data["categories"]
        original = data["original"]
        return cls(
            str(data["probe"]),
            str(data["pair_id"]),
            (tuple(categories[0]), tuple(categories[1])),
            (original[0], original[1]),
            tuple(VariantResult.model_validate(v) for v in data.get("variants") or ()),
            data.get("set_correct"),
            data.get("seed"),
            data.get("error"),
        )


def _letters(decisions: Sequence[str | None]) -> str:
    return "/".join(d or "invalid" for d in decisions)


def _how(variant: VariantResult) -> str:
    if variant.variant == "order":
        return "with the options swapped (a consistent model answers the other letter)"
    if variant.variant == "paraphrase":
        return "on the paraphrase"
    params = ", ".join(f"{k}={v}" for k, v in variant.params.items())
    return f"on the perturbed images ({params})"


class ProbeFigures(Record):
    """A probe's roll-up: consistency overall and per category (pairs carrying it), and for the
    paraphrase the paraphrased benchmark's set accuracy."""

    consistency: Proportion
    categories: dict[str, Proportion] = Field(default_factory=dict)
    probed: int
    errors: int = 0
    #: Probe cases skipped (recorded by a run; the figures themselves never count them).
    skipped: int = 0
    #: paraphrase: set accuracy of the benchmark asked in the dataset's paraphrase.
    set_accuracy: Proportion | None = None


def probe_figures(outcomes: Iterable[ProbeOutcome]) -> dict[str, ProbeFigures]:
    by_probe: dict[str, list[ProbeOutcome]] = defaultdict(list)
    for outcome in outcomes:
        by_probe[outcome.probe].append(outcome)
    figures = {}
    for probe in [*PROBES.names(), *(p for p in by_probe if p not in PROBES)]:
        mine = by_probe.get(probe)
        if not mine:
            continue
        asked = [o for o in mine if o.consistent is not None]
        categories: dict[str, list[bool]] = defaultdict(list)
        for outcome in asked:
            for name in outcome.all_categories:
                categories[name].append(bool(outcome.consistent))
        graded = [o.set_correct for o in asked if o.set_correct is not None]
        figures[probe] = ProbeFigures(
            consistency=Proportion.of(sum(1 for o in asked if o.consistent), len(asked)),
            categories={name: Proportion.of(sum(v), len(v)) for name, v in sorted(categories.items())},
            probed=len(asked),
            errors=len(mine) - len(asked),
            set_accuracy=Proportion.of(sum(graded), len(graded)) if probe == "paraphrase" or graded else None,
        )
    return figures


def baseline_probe_figures(document: Any) -> dict[str, ProbeFigures]:
    """A results document's probe roll-up, recomputed from its probe records (empty without probes)."""
    probes = getattr(document, "probes", None)
    return {} if probes is None else probe_figures(probes.outcomes())
