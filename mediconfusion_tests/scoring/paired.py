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

from mediconfusion_tests.records import Record

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


class Discordance(Record):
    """A 2x2 table of paired successes, baseline against new run, and McNemar's exact p (build with ``of``)."""

    both: int
    baseline_only: int
    new_only: int
    neither: int
    p_value: float

    @classmethod
    def of(cls, baseline: Sequence[bool], new: Sequence[bool]) -> Discordance:
        pairs = list(zip(baseline, new, strict=True))
        only_baseline = sum(a and not b for a, b in pairs)
        only_new = sum(b and not a for a, b in pairs)
        return cls(
            both=sum(a and b for a, b in pairs),
            baseline_only=only_baseline,
            new_only=only_new,
            neither=sum(not a and not b for a, b in pairs),
            p_value=mcnemar_exact(only_baseline, only_new),
        )


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
