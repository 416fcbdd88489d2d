"""How far float32 arithmetic can push a staircase MLP off its values.

A staircase (see :mod:`compiler.blocks`) is exact in real arithmetic, but the
model runs in float32.  A step the input has passed is the difference of two
ReLU outputs that grow with the distance from the step, so it carries their
rounding, and the output sums such errors times the step heights: over values
like 1e3 with step heights like 1e6 that reaches whole units.

How much of that rounding cancels depends on the order in which the hardware
sums (on one such MLP numpy's float32 matmul was off by 0.5 where XLA's was
exact), so no simulation speaks for every device.  Each staircase is therefore
checked against an estimate of its worst error before any weight is emitted, and a node
whose estimate passes the tolerance is refused with the numbers, instead of
compiling to a model that may be silently off.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["OUTPUT_TOLERANCE", "CATEGORICAL_MARGIN", "worst_error"]

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
