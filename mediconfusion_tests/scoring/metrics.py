"""MediConfusion metrics over pair outcomes: the paper's figures and pair-level ones.

Pairs whose model call errored carry no answers and are left out of every figure;
the run reports them separately so they are never mistaken for invalid answers.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from pydantic import Field

from mediconfusion_tests.extensions import Registry
from mediconfusion_tests.records import Record
from mediconfusion_tests.scoring.stats import Proportion

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from mediconfusion_tests.scoring.outcome import PairOutcome

#: The four figures the paper reports and gates, reports and comparisons use.
HEADLINE_METRICS = ("set_accuracy", "individual_accuracy", "confusion", "invalid_rate")
METRIC_NAMES = (*HEADLINE_METRICS, "precision")


@dataclass(frozen=True)
class Metric:
    """A figure of one's own, computed from the scored pairs (of the whole run, then of each category):
    recorded in results.json beside the paper's (``figures.extra``), gated (``--gate 'NAME>=0.5'``, also
    per category and against a baseline) and compared like them. Register it in ``METRICS``."""

    compute: Callable[[Sequence[PairOutcome]], Proportion]
    help: str = ""


def _metric(item: object) -> Metric:
    if not isinstance(item, Metric):
        raise TypeError(f"a metric must be a mediconfusion_tests.scoring.metrics.Metric, got {item!r:.80}")
    return item


#: Metrics beyond the paper's; a metric is one ``METRICS.register(name, Metric(...))`` call.
METRICS: Registry[Metric] = Registry("metrics", _metric)


def gateable_metrics() -> tuple[str, ...]:
    """Every metric a gate may name: the paper's four, then the registered ones."""
    return (*HEADLINE_METRICS, *(name for name in METRICS.names() if name not in METRIC_NAMES))


def _extra(pairs: Sequence[PairOutcome]) -> dict[str, Proportion]:
    figures = {}
    for name, metric in METRICS.items():
        value = metric.compute(pairs)
        if not isinstance(value, Proportion):
            raise TypeError(f"metric {name!r} returned {value!r:.80}, not a Proportion")
        figures[name] = value
    return figures


class Figures(Record):
    """The five headline proportions plus the counts behind them."""

    set_accuracy: Proportion
    individual_accuracy: Proportion
    confusion: Proportion
    invalid_rate: Proportion
    precision: Proportion
    pairs: int
    images: int
    valid_pairs: int
    #: The registered metrics (METRICS), by name; left out of results.json when none is registered.
    extra: dict[str, Proportion] = Field(default_factory=dict, exclude_if=lambda extra: not extra)

    def get(self, metric: str) -> Proportion:
        if metric in METRIC_NAMES:
            value: Proportion = getattr(self, metric)
            return value
        return self.extra[metric]


class CategoryFigures(Record):
    paper: Figures
    pair_level: Figures


class Metrics(Record):
    overall: Figures
    categories: dict[str, CategoryFigures] = Field(default_factory=dict)

    def figures(self, category: str | None) -> Figures:
        """Overall figures, or the paper's figures for one category."""
        return self.overall if category is None else self.categories[category].paper


def scored(outcomes: Iterable[PairOutcome]) -> list[PairOutcome]:
    """The outcomes that count in the metrics: answered, no model error."""
    return [o for o in outcomes if o.answers is not None and o.error is None]


def scored_by_id(outcomes: Iterable[PairOutcome]) -> dict[str, PairOutcome]:
    return {o.pair_id: o for o in scored(outcomes)}


def overall_figures(outcomes: Iterable[PairOutcome]) -> Figures:
    """Each pair counts once; each image counts once."""
    pairs = scored(outcomes)
    n = len(pairs)
    set_correct = sum(o.set_correct for o in pairs)
    valid = [o for o in pairs if o.valid]
    confused = sum(o.confused for o in valid)
    # Set-correct among the valid, unconfused pairs: the same count as set-correct when a pair's two
    # answers differ (they always do in a confusing pair), and never more pairs than the denominator.
    precise = sum(o.set_correct and not o.confused for o in valid)
    return Figures(
        set_accuracy=Proportion.of(set_correct, n),
        individual_accuracy=Proportion.of(sum(sum(o.correct) for o in pairs), 2 * n),
        confusion=Proportion.of(confused, len(valid)),
        invalid_rate=Proportion.of(sum(sum(o.invalid) for o in pairs), 2 * n),
        precision=Proportion.of(precise, len(valid) - confused),
        pairs=n,
        images=2 * n,
        valid_pairs=len(valid),
        extra=_extra(pairs),
    )


def paper_category_figures(outcomes: Iterable[PairOutcome], category: str) -> Figures:
    """The harness's image-weighted counting for one category.

    The denominator is the number of images carrying the category. Pair-level
    events (set-correct, confused, valid) add one per occurrence of the category
    in category_1 + category_2; image-level events add one per occurrence in that
    image's own list.
    """
    images = set_occ = correct = invalid = confused = valid = precise = 0
    pairs = scored(outcomes)
    pair_count = 0
    for o in pairs:
        counts = [Counter(o.categories[0])[category], Counter(o.categories[1])[category]]
        both = counts[0] + counts[1]
        if both == 0:
            continue
        pair_count += 1
        images += both
        correct += sum(c for c, ok in zip(counts, o.correct, strict=True) if ok)
        invalid += sum(c for c, bad in zip(counts, o.invalid, strict=True) if bad)
        if o.set_correct:
            set_occ += both
        if o.valid:
            valid += both
            if o.confused:
                confused += both
            elif o.set_correct:
                precise += both
    return Figures(
        set_accuracy=Proportion.of(set_occ, images),
        individual_accuracy=Proportion.of(correct, images),
        confusion=Proportion.of(confused, valid),
        invalid_rate=Proportion.of(invalid, images),
        precision=Proportion.of(precise, valid - confused),
        pairs=pair_count,
        images=images,
        valid_pairs=valid,
        extra=_extra([o for o in pairs if category in o.categories[0] or category in o.categories[1]]),
    )


class HasCategories(Protocol):
    @property
    def categories(self) -> tuple[tuple[str, ...], tuple[str, ...]]: ...


def category_names(items: Iterable[HasCategories]) -> list[str]:
    """Categories by number of images carrying them (as the paper lists them), then by name."""
    counts: Counter[str] = Counter()
    for item in items:
        counts.update(item.categories[0])
        counts.update(item.categories[1])
    return sorted(counts, key=lambda name: (-counts[name], name))


def compute_metrics(outcomes: Sequence[PairOutcome]) -> Metrics:
    pairs = scored(outcomes)
    categories = {}
    for name in category_names(pairs):
        members = [o for o in pairs if name in o.categories[0] or name in o.categories[1]]
        categories[name] = CategoryFigures(
            paper=paper_category_figures(pairs, name),
            pair_level=overall_figures(members),
        )
    return Metrics(overall=overall_figures(pairs), categories=categories)
