"""Paired statistics for two runs on the same pairs: exact McNemar tests and bootstrap intervals.

Two runs of one benchmark are paired: the same pairs, answered twice. The
question "did it get worse?" is about the pairs whose result changed, so the
significance test is McNemar's (exact: a binomial test on the discordant
pairs), and the interval for a difference resamples pairs, keeping both runs'
answers to a pair together.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

BOOTSTRAP_SAMPLES = 2000
BOOTSTRAP_SEED = 20250301


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value for b and c discordant pairs (binomial, p = 1/2)."""
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    # The binomial(n, 1/2) is symmetric, so doubling the smaller tail is the two-sided p.
    tail: float = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)


@dataclass(frozen=True)
class Discordance:
    """A 2x2 table of paired successes: baseline (rows) against new run (columns)."""

    both: int
    only_baseline: int
    only_new: int
    neither: int

    @classmethod
    def of(cls, baseline: Sequence[bool], new: Sequence[bool]) -> Discordance:
        pairs = list(zip(baseline, new, strict=True))
        return cls(
            both=sum(a and b for a, b in pairs),
            only_baseline=sum(a and not b for a, b in pairs),
            only_new=sum(b and not a for a, b in pairs),
            neither=sum(not a and not b for a, b in pairs),
        )

    @property
    def p_value(self) -> float:
        return mcnemar_exact(self.only_baseline, self.only_new)

    def to_dict(self) -> dict[str, object]:
        return {
            "both": self.both,
            "baseline_only": self.only_baseline,
            "new_only": self.only_new,
            "neither": self.neither,
            "p_value": self.p_value,
        }


Differences = Callable[[Sequence[int]], dict[str, float | None]]


def paired_bootstrap(
    count: int,
    differences: Differences,
    samples: int = BOOTSTRAP_SAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> dict[str, tuple[float, float] | None]:
    """95% percentile intervals of each new-minus-baseline difference, over pairs drawn with replacement.

    ``differences(indices)`` computes every difference on the chosen pairs, so
    both runs are always resampled together. Seeded: the same inputs give the
    same intervals.
    """
    if count == 0:
        return {}
    rng = random.Random(seed)  # noqa: S311 - a seeded bootstrap, reproducible by design
    draws: dict[str, list[float]] = {}
    for _ in range(samples):
        chosen = [rng.randrange(count) for _ in range(count)]
        for name, value in differences(chosen).items():
            if value is not None:
                draws.setdefault(name, []).append(value)
    intervals: dict[str, tuple[float, float] | None] = {}
    for name, values in draws.items():
        values.sort()
        intervals[name] = (values[int(0.025 * (len(values) - 1))], values[math.ceil(0.975 * (len(values) - 1))])
    return intervals
