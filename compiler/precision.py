"""How far float32 arithmetic can push a staircase MLP off its values.

A staircase (see :mod:`compiler.constructions._staircase`) is exact in real
arithmetic, but the model runs in float32.  A step the input has passed is the difference of two
ReLU outputs that grow with the distance from the step, so it carries their
rounding, and the output sums such errors times the step heights: over values
like 1e3 with step heights like 1e6 that reaches whole units.

How much of that rounding cancels depends on the order in which the hardware
sums (on one such MLP numpy's float32 matmul was off by 0.5 where XLA's was
exact), so no simulation speaks for every device.  Each staircase is therefore
checked against an estimate of its worst error when it is planned, before any weight
is emitted (:func:`judge_staircase`, the one precision rule), and a node whose
estimate passes the tolerance is refused with the numbers, instead of compiling to a
model that may be silently off.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["OUTPUT_TOLERANCE", "CATEGORICAL_MARGIN", "Precision", "judge_staircase", "worst_error"]

OUTPUT_TOLERANCE = 1e-4
"""Numerical outputs must be within this of the exact value (relative above 1): the
default tolerance of ``models.verify``."""
CATEGORICAL_MARGIN = 0.25
"""A one-hot output may be off by this much and still decode to its value."""
EPS32 = float(np.finfo(np.float32).eps)


def worst_error(
    coef: np.ndarray, bias: np.ndarray, out: np.ndarray, xs: Sequence[float], push: np.ndarray
) -> np.ndarray:
    """The expected worst float32 error of every output at each input, ``[len(xs), n]``,
    for hidden units ``relu(coef * x + bias)`` (``[units]`` each) writing ``out``
    (``[units, n]``).  A gated unit reads ``bias - push`` from ``one`` and ``push`` from
    its gate (1 where it works): the two cancel in real arithmetic but not in float32.

    The two units of a step read the same product ``coef * x``, so the rounding of
    the input, of ``coef`` and of the product is the same in both and cancels in
    their difference; what remains is the rounding of each unit's bias and of its
    sum (up to ``eps * (|bias| + |pre|)``), and of a gate's push, each times the
    unit's output weights.  Inactive units are exactly zero: their pre-activation
    is at most -0.5, far beyond any rounding.  The units round independently, so
    their errors add as a root sum of squares (a straight sum was 16 times the
    error XLA showed on 0/1 steps over means of 8, this is 4.6 times).
    """
    x = np.asarray(xs, dtype=np.float64)[:, None]
    pre = coef[None, :] * x + bias[None, :]
    per_unit = EPS32 * (np.abs(bias) + np.abs(pre) + 2 * push)
    return np.sqrt(np.where(pre > 0, per_unit, 0.0) ** 2 @ out**2)


@dataclass(frozen=True)
class Precision:
    """A staircase's float32 verdict: its worst estimated ``error`` (in output units)
    and, where some output could leave its budget, why (with the numbers)."""

    error: float
    reason: str | None = None


def judge_staircase(
    coef: np.ndarray,
    bias: np.ndarray,
    out: np.ndarray,
    want: np.ndarray,
    numeric: np.ndarray,
    xs: Sequence[float],
    push: np.ndarray,
) -> Precision:
    """The precision rule, stated once.  ``coef``, ``bias``, ``out`` and ``push`` are the
    staircase's units as for :func:`worst_error`; ``want`` (``[len(xs), n]``) the exact
    outputs and ``numeric`` (``[n]``) which outputs are numbers (held to
    :data:`OUTPUT_TOLERANCE`, relative above 1) rather than one-hot (held to
    :data:`CATEGORICAL_MARGIN`)."""
    error = worst_error(coef, bias, out, xs, push)
    scale = np.maximum(1.0, np.abs(want))
    budget = np.where(numeric[None, :], OUTPUT_TOLERANCE * scale, CATEGORICAL_MARGIN)
    worst = float(error.max(initial=0.0))
    over = np.argwhere(error > budget)
    if not len(over):
        return Precision(worst)
    j, k = over[0]
    biggest = float(np.abs(out[1:]).max(initial=0.0))  # the base unit is no step
    return Precision(
        worst,
        f"float32 could carry its MLP off by {error[j, k]:.2g} at input {xs[j]!r}, where it "
        f"must be within {budget[j, k]:.2g} of {want[j, k]:.6g}: its staircase adds steps as "
        f"high as {biggest:.3g} over inputs up to {max(abs(float(v)) for v in xs):.3g} "
        "(slopes 2/gap); scale the values down (e.g. divide by 1000 first) or make the input "
        "categorical",
    )
