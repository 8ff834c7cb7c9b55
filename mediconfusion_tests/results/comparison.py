"""This run against a baseline run, pair by pair, on the pairs both scored.

Differences of each headline metric come with paired bootstrap intervals;
McNemar's exact test says whether the change in set-correct pairs (and in
correct images) is more than noise; the flipped pairs are listed both ways.
Also: which parts of two runs must match for the comparison to mean anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mediconfusion_tests.results.document import (
    ComparisonRecord,
    FlipRecord,
    FlipSide,
    MetricDelta,
    ResultsDocument,
)
from mediconfusion_tests.results.gate import ConditionRecord, check
from mediconfusion_tests.scoring.metrics import HEADLINE_METRICS, Metrics, compute_metrics, scored_by_id
from mediconfusion_tests.scoring.paired import Discordance, paired_bootstrap

if TYPE_CHECKING:
    from collections.abc import Sequence

    from mediconfusion_tests.scoring.outcome import PairOutcome

COMPARED = HEADLINE_METRICS


@dataclass(frozen=True)
class Identity:
    """What two runs must share to be compared: dataset, mode, prompts and scoring rules."""

    dataset: str | None
    mode: str
    prompt_set: str | None
    answer_parser: str | None
    judge_threshold: float | None

    @classmethod
    def of(
        cls, dataset: str | None, mode: str, prompt_set: str | None, answer_parser: str, judge_threshold: float
    ) -> Identity:
        return cls(
            dataset,
            mode,
            prompt_set,
            answer_parser if mode == "mc" else None,
            judge_threshold if mode == "freeform" else None,
        )

    @classmethod
    def of_document(cls, document: ResultsDocument) -> Identity:
        config = document.config
        prompt_set = document.prompts.sha256 or document.prompts.source
        dataset = document.dataset.revision or document.dataset.sha256
        return cls.of(dataset, config.mode, prompt_set, config.answer_parser, config.judge_threshold)

    def differences(self, other: Identity) -> list[str]:
        """Human-readable differences, with ``self`` as the baseline."""
        labels = {
            "dataset": "dataset",
            "mode": "mode",
            "prompt_set": "prompt set",
            "answer_parser": "answer parser",
            "judge_threshold": "judge threshold",
        }
        return [
            f"{label}: baseline {getattr(self, name)!r}, this run {getattr(other, name)!r}"
            for name, label in labels.items()
            if getattr(self, name) != getattr(other, name)
        ]

    def as_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "mode": self.mode,
            "prompt set": self.prompt_set,
            "answer parser": self.answer_parser,
            "judge threshold": self.judge_threshold,
        }


def identity_mismatches(baseline: ResultsDocument, ours: Identity) -> list[str]:
    return Identity.of_document(baseline).differences(ours)


def pair_set_mismatch(baseline_ids: set[str], our_ids: set[str]) -> str | None:
    """Pairs this run scored that the baseline did not: they cannot be compared.

    Baseline pairs this run did not select (-m, -k) are fine: the comparison is on common pairs.
    """
    missing = sorted(our_ids - baseline_ids)
    if not missing:
        return None
    shown = ", ".join(missing[:5]) + ("…" if len(missing) > 5 else "")
    return f"pairs: {len(missing)} scored by this run but not by the baseline ({shown})"


def _decisions(outcome: PairOutcome) -> list[Any]:
    return [a.decision for a in outcome.answers or ()]


def _flip(baseline: PairOutcome, new: PairOutcome) -> FlipRecord:
    return FlipRecord(
        pair_id=new.pair_id,
        categories=sorted(set(new.categories[0]) | set(new.categories[1])),
        truth=list(new.truth),
        baseline=FlipSide(decisions=_decisions(baseline), raw=[a.raw for a in baseline.answers or ()]),
        new=FlipSide(decisions=_decisions(new), raw=[a.raw for a in new.answers or ()], failure=new.failure_message),
    )


@dataclass
class Comparison:
    baseline_file: str
    baseline_run: str
    baseline_model: str
    pairs: list[str]
    baseline_metrics: Metrics
    new_metrics: Metrics
    intervals: dict[str, tuple[float, float] | None]
    set_correct: Discordance
    images: Discordance
    regressions: list[FlipRecord]
    improvements: list[FlipRecord]
    only_baseline: list[str] = field(default_factory=list)
    only_new: list[str] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)
    #: Paired bootstrap intervals of the per-category differences, by category and metric.
    category_intervals: dict[str, dict[str, tuple[float, float] | None]] = field(default_factory=dict)

    def difference(self, metric: str) -> float | None:
        old, new = self.baseline_metrics.overall.get(metric).value, self.new_metrics.overall.get(metric).value
        return None if old is None or new is None else new - old

    @property
    def regressed(self) -> bool:
        """Fewer set-correct pairs than the baseline."""
        return self.set_correct.baseline_only > self.set_correct.new_only

    def record(self, mismatch_allowed: bool) -> ComparisonRecord:
        metrics = {}
        for name in COMPARED:
            interval = self.intervals.get(name)
            metrics[name] = MetricDelta(
                baseline=self.baseline_metrics.overall.get(name).value,
                new=self.new_metrics.overall.get(name).value,
                difference=self.difference(name),
                ci95=interval,
            )
        categories = {}
        for name, figures in self.new_metrics.categories.items():
            before = self.baseline_metrics.categories.get(name)
            intervals = self.category_intervals.get(name, {})
            row = {}
            for metric in CATEGORY_COMPARED:
                new = figures.paper.get(metric).value
                old = before.paper.get(metric).value if before else None
                row[metric] = MetricDelta(
                    baseline=old,
                    new=new,
                    difference=None if old is None or new is None else new - old,
                    ci95=intervals.get(metric),
                )
            categories[name] = row
        return ComparisonRecord(
            baseline_file=self.baseline_file,
            baseline_run=self.baseline_run,
            baseline_model=self.baseline_model,
            pairs_compared=len(self.pairs),
            pairs_only_in_baseline=self.only_baseline,
            pairs_only_in_this_run=self.only_new,
            mismatches=self.mismatches,
            metrics=metrics,
            mcnemar={
                "set_correct": self.set_correct,
                "images": self.images,
            },
            regressions=self.regressions,
            improvements=self.improvements,
            categories=categories,
            mismatch_allowed=mismatch_allowed,
        )


def _differences(old: Sequence[PairOutcome], new: Sequence[PairOutcome]) -> Any:
    """A function of resampled pair indices giving every new-minus-baseline difference."""

    def vectors(outcomes: Sequence[PairOutcome]) -> list[tuple[int, int, int, int, int]]:
        return [(o.set_correct, sum(o.correct), sum(o.invalid), o.valid, o.confused) for o in outcomes]

    before, after = vectors(old), vectors(new)

    def figures(rows: Sequence[tuple[int, int, int, int, int]], chosen: Sequence[int]) -> dict[str, float | None]:
        total = [0, 0, 0, 0, 0]
        for index in chosen:
            for slot, value in enumerate(rows[index]):
                total[slot] += value
        n = len(chosen)
        return {
            "set_accuracy": total[0] / n,
            "individual_accuracy": total[1] / (2 * n),
            "invalid_rate": total[2] / (2 * n),
            "confusion": total[4] / total[3] if total[3] else None,
        }

    def differences(chosen: Sequence[int]) -> dict[str, float | None]:
        a, b = figures(before, chosen), figures(after, chosen)
        return {k: None if a[k] is None or b[k] is None else b[k] - a[k] for k in a}  # type: ignore[operator]

    return differences


CATEGORY_COMPARED = ("set_accuracy", "confusion")


def _category_differences(old: Sequence[PairOutcome], new: Sequence[PairOutcome], category: str) -> Any:
    """Like _differences, for one category with the paper's weights (occurrences of it in both images' lists)."""

    def weight(outcome: PairOutcome) -> int:
        return outcome.categories[0].count(category) + outcome.categories[1].count(category)

    weights = [weight(o) for o in new]

    def figures(rows: Sequence[PairOutcome], chosen: Sequence[int]) -> dict[str, float | None]:
        images = correct = valid = confused = 0
        for index in chosen:
            w, outcome = weights[index], rows[index]
            images += w
            correct += w * outcome.set_correct
            if outcome.valid:
                valid += w
                confused += w * outcome.confused
        return {
            "set_accuracy": correct / images if images else None,
            "confusion": confused / valid if valid else None,
        }

    def differences(chosen: Sequence[int]) -> dict[str, float | None]:
        a, b = figures(old, chosen), figures(new, chosen)
        return {k: None if a[k] is None or b[k] is None else b[k] - a[k] for k in a}  # type: ignore[operator]

    return differences


def category_intervals(
    old: Sequence[PairOutcome], new: Sequence[PairOutcome]
) -> dict[str, dict[str, tuple[float, float] | None]]:
    """Per category, bootstrap over the common pairs carrying it (both runs resampled together)."""
    names = sorted({c for o in new for side in o.categories for c in side})
    result = {}
    for name in names:
        members = [i for i, o in enumerate(new) if name in o.categories[0] or name in o.categories[1]]
        result[name] = paired_bootstrap(
            len(members),
            _category_differences([old[i] for i in members], [new[i] for i in members], name),
        )
    return result


def compare(
    baseline: ResultsDocument,
    outcomes: Sequence[PairOutcome],
    ours: Identity,
    baseline_file: str = "",
) -> Comparison:
    """Compare this run's outcomes (with identity ``ours``) with a baseline document, on the pairs both scored."""
    old, new = scored_by_id(baseline.outcomes()), scored_by_id(outcomes)
    common = [pid for pid in new if pid in old]
    old_list, new_list = [old[p] for p in common], [new[p] for p in common]
    flips_down = [_flip(old[p], new[p]) for p in common if old[p].set_correct and not new[p].set_correct]
    flips_up = [_flip(old[p], new[p]) for p in common if new[p].set_correct and not old[p].set_correct]
    return Comparison(
        baseline_file=baseline_file,
        baseline_run=baseline.run.id,
        baseline_model=baseline.model.spec,
        pairs=common,
        baseline_metrics=compute_metrics(old_list),
        new_metrics=compute_metrics(new_list),
        intervals=paired_bootstrap(len(common), _differences(old_list, new_list)),
        category_intervals=category_intervals(old_list, new_list),
        set_correct=Discordance.of([o.set_correct for o in old_list], [o.set_correct for o in new_list]),
        images=Discordance.of([c for o in old_list for c in o.correct], [c for o in new_list for c in o.correct]),
        regressions=flips_down,
        improvements=flips_up,
        only_baseline=sorted(set(old) - set(new)),
        only_new=sorted(set(new) - set(old)),
        mismatches=identity_mismatches(baseline, ours)
        + [m for m in [pair_set_mismatch(set(old), set(new))] if m is not None],
    )


def regression_checks(
    comparison: Comparison, fail_on_significant: bool, alpha: float, max_regressed: int | None
) -> list[ConditionRecord]:
    """The gate's baseline checks that are not metric thresholds: significance and regressed pairs."""
    checks = []
    lost, gained = comparison.set_correct.baseline_only, comparison.set_correct.new_only
    if fail_on_significant:
        p = comparison.set_correct.p_value
        significant = comparison.regressed and p < alpha
        checks.append(
            check(
                "no significant regression",
                not significant,
                f"McNemar exact p = {p:.4g} on set-correct pairs ({lost} lost, {gained} gained; alpha {alpha:g})",
            )
        )
    if max_regressed is not None:
        checks.append(
            check(
                f"regressed pairs <= {max_regressed}",
                lost <= max_regressed,
                f"{lost} pair(s) the baseline answered right are now wrong",
            )
        )
    return checks
