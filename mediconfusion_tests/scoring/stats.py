"""Proportions with Wilson score intervals, defined on empty input."""

from __future__ import annotations

import math

from mediconfusion_tests.records import Record

Z_95 = 1.959963984540054


def wilson_interval(k: int, n: int, z: float = Z_95) -> tuple[float, float] | None:
    """Wilson score interval for k successes in n trials; None when n == 0."""
    if n <= 0:
        return None
    if not 0 <= k <= n:
        raise ValueError(f"successes {k} outside 0..{n}")
    p = k / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    # At k == 0 or k == n the bound is exactly 0 or 1; say so rather than trust rounding.
    low = 0.0 if k == 0 else max(0.0, centre - half)
    high = 1.0 if k == n else min(1.0, centre + half)
    return low, high


class Proportion(Record):
    """k of n, with its value and Wilson interval as results.json records them (build with ``of``)."""

    value: float | None
    k: int
    n: int
    ci95: tuple[float, float] | None = None

    @classmethod
    def of(cls, k: int, n: int) -> Proportion:
        return cls(value=k / n if n else None, k=k, n=n, ci95=wilson_interval(k, n))
