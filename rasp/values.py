"""Pure value-set helpers shared by the compiler's value inference
(:mod:`compiler.values`) and the program generator (:mod:`rasp.generate`).

They live here, not in ``compiler/``, because ``rasp`` must not import the compiler
(the compiler imports ``rasp``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from fractions import Fraction
from typing import Any

__all__ = ["argument_pools", "is_finite_number", "is_number", "mean_values", "plain"]


def argument_pools(sets: Sequence[Iterable[Any] | None]) -> tuple[list[list], bool] | None:
    """The values a function of several SOps is applied to: each input's non-None
    values (the function runs on every combination of them), and whether any input can
    be None (then so can the result: None flows through without calling the function).
    None when any input's set is unknown.  The one rule of value inference and of the
    generator's bookkeeping."""
    if any(s is None for s in sets):
        return None
    pools = [[v for v in s if v is not None] for s in sets]
    return pools, any(None in s for s in sets)


def is_number(value: Any) -> bool:
    """Whether ``value`` is a number a numerical SOp can hold: a bool, int or float
    (None, strings and tuples are not).  The one test every pass uses."""
    return isinstance(value, (bool, int, float))


def is_finite_number(value: Any) -> bool:
    """A number (see :func:`is_number`) that is neither infinite nor NaN."""
    return is_number(value) and math.isfinite(value)


def plain(f: Fraction) -> int | float:
    """An exact fraction as the value a program holds: an int if whole, else a float."""
    return int(f) if f.denominator == 1 else float(f)


def mean_values(values: Iterable[Any], max_count: int, limit: int) -> frozenset | None:
    """Every mean of 1..max_count values drawn (with repetition) from ``values``, or None
    past ``limit`` of them.  Sums are taken over integers (the values scaled by their
    common denominator), so long sequences stay fast."""
    distinct = sorted({Fraction(v) for v in values})
    if not distinct:
        return frozenset()
    if set(distinct) <= {Fraction(0), Fraction(1)}:
        lo, hi = int(min(distinct)), int(max(distinct))
        fracs = {Fraction(k, n) for n in range(1, max_count + 1) for k in range(lo * n, hi * n + 1)}
        return frozenset(plain(f) for f in fracs)
    scale = math.lcm(*(f.denominator for f in distinct))
    steps = [int(f * scale) for f in distinct]
    means: set[Fraction] = set()
    sums: set[int] = {0}
    for n in range(1, max_count + 1):
        sums = {s + v for s in sums for v in steps}
        if len(sums) * len(steps) > limit * 10:
            return None
        means.update(Fraction(s, n * scale) for s in sums)
        if len(means) > limit:
            return None
    return frozenset(plain(m) for m in means)
