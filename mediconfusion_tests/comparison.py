"""This run against a baseline run, pair by pair, on the pairs both scored.

Differences of each headline metric come with paired bootstrap intervals;
McNemar's exact test says whether the change in set-correct pairs (and in
correct images) is more than noise; the flipped pairs are listed both ways.
Also: which parts of two runs must match for the comparison to mean anything.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mediconfusion_tests.reporting.results_json import outcomes_from_document
from mediconfusion_tests.scoring.metrics import Metrics, compute_metrics
from mediconfusion_tests.scoring.outcome import PairOutcome
from mediconfusion_tests.scoring.paired import Discordance, paired_bootstrap

COMPARED = ("set_accuracy", "individual_accuracy", "confusion", "invalid_rate")


def run_identity(dataset: Mapping[str, Any], config: Mapping[str, Any], prompts: Mapping[str, Any]) -> dict[str, Any]:
    """What two runs must share to be compared: dataset, mode, prompts and scoring rules."""
    return {
        "dataset": dataset.get("revision") or dataset.get("sha256"),
        "mode": config.get("mode"),
        "prompt set": prompts.get("sha256") or prompts.get("source"),
        "answer parser": config.get("answer_parser") if config.get("mode") == "mc" else None,
        "judge threshold": config.get("judge_threshold") if config.get("mode") == "freeform" else None,
    }


def identity(document: Mapping[str, Any]) -> dict[str, Any]:
    return run_identity(document["dataset"], document["config"], document.get("prompts") or {})


def identity_mismatches(baseline: Mapping[str, Any], ours: Mapping[str, Any]) -> list[str]:
    """Human-readable differences between a baseline document and this run's identity."""
    theirs = identity(baseline)
    return [f"{key}: baseline {theirs[key]!r}, this run {ours[key]!r}" for key in ours if theirs[key] != ours[key]]


def pair_set_mismatch(baseline_ids: set[str], our_ids: set[str]) -> str | None:
    """Pairs this run scored that the baseline did not: they cannot be compared.

    Baseline pairs this run did not select (-m, -k) are fine: the comparison is on common pairs.
    """
    missing = sorted(our_ids - baseline_ids)
    if not missing:
        return None
    shown = ", ".join(missing[:5]) + ("…" if len(missing) > 5 else "")
    return f"pairs: {len(missing)} scored by this run but not by the baseline ({shown})"


def scored(outcomes: Sequence[PairOutcome]) -> dict[str, PairOutcome]:
    return {o.pair_id: o for o in outcomes if o.answers is not None and o.error is None}


def _decisions(outcome: PairOutcome) -> list[str | None]:
    return [a.decision for a in outcome.answers or ()]


def _flip(baseline: PairOutcome, new: PairOutcome) -> dict[str, Any]:
    return {
        "pair_id": new.pair_id,
        "categories": sorted(set(new.categories[0]) | set(new.categories[1])),
        "truth": list(new.truth),
        "baseline": {"decisions": _decisions(baseline), "raw": [a.raw for a in baseline.answers or ()]},
        "new": {
            "decisions": _decisions(new),
            "raw": [a.raw for a in new.answers or ()],
            "failure": new.failure_message,
        },
    }


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
    regressions: list[dict[str, Any]]
    improvements: list[dict[str, Any]]
    only_baseline: list[str] = field(default_factory=list)
    only_new: list[str] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)

    def difference(self, metric: str) -> float | None:
        old, new = self.baseline_metrics.overall.get(metric).value, self.new_metrics.overall.get(metric).value
        return None if old is None or new is None else new - old

    @property
    def regressed(self) -> bool:
        """Fewer set-correct pairs than the baseline."""
        return self.set_correct.only_baseline > self.set_correct.only_new

    def to_dict(self) -> dict[str, Any]:
        metrics = {}
        for name in COMPARED:
            interval = self.intervals.get(name)
            metrics[name] = {
                "baseline": self.baseline_metrics.overall.get(name).value,
                "new": self.new_metrics.overall.get(name).value,
                "difference": self.difference(name),
                "ci95": list(interval) if interval else None,
            }
        categories = {}
        for name, figures in self.new_metrics.categories.items():
            before = self.baseline_metrics.categories.get(name)
            row = {}
            for metric in ("set_accuracy", "confusion"):
                new = figures.paper.get(metric).value
                old = before.paper.get(metric).value if before else None
                row[metric] = {
                    "baseline": old,
                    "new": new,
                    "difference": None if old is None or new is None else new - old,
                }
            categories[name] = row
        return {
            "baseline_file": self.baseline_file,
            "baseline_run": self.baseline_run,
            "baseline_model": self.baseline_model,
            "pairs_compared": len(self.pairs),
            "pairs_only_in_baseline": self.only_baseline,
            "pairs_only_in_this_run": self.only_new,
            "mismatches": self.mismatches,
            "metrics": metrics,
            "mcnemar": {"set_correct": self.set_correct.to_dict(), "images": self.images.to_dict()},
            "regressions": self.regressions,
            "improvements": self.improvements,
            "categories": categories,
        }


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


def compare(
    baseline: Mapping[str, Any],
    outcomes: Sequence[PairOutcome],
    ours: Mapping[str, Any],
    baseline_file: str = "",
) -> Comparison:
    """Compare this run's outcomes (with identity ``ours``) with a baseline document, on the pairs both scored."""
    old, new = scored(outcomes_from_document(baseline)), scored(outcomes)
    common = [pid for pid in new if pid in old]
    old_list, new_list = [old[p] for p in common], [new[p] for p in common]
    flips_down = [_flip(old[p], new[p]) for p in common if old[p].set_correct and not new[p].set_correct]
    flips_up = [_flip(old[p], new[p]) for p in common if new[p].set_correct and not old[p].set_correct]
    return Comparison(
        baseline_file=baseline_file,
        baseline_run=baseline.get("run", {}).get("id", ""),
        baseline_model=baseline.get("model", {}).get("spec", ""),
        pairs=common,
        baseline_metrics=compute_metrics(old_list),
        new_metrics=compute_metrics(new_list),
        intervals=paired_bootstrap(len(common), _differences(old_list, new_list)),
        set_correct=Discordance.of([o.set_correct for o in old_list], [o.set_correct for o in new_list]),
        images=Discordance.of([c for o in old_list for c in o.correct], [c for o in new_list for c in o.correct]),
        regressions=flips_down,
        improvements=flips_up,
        only_baseline=sorted(set(old) - set(new)),
        only_new=sorted(set(new) - set(old)),
        mismatches=identity_mismatches(baseline, ours)
        + [m for m in [pair_set_mismatch(set(old), set(new))] if m is not None],
    )
