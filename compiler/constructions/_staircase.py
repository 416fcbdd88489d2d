"""The staircase: hidden units exact on a listed set of inputs of one linear form.

A pair of ReLUs per gap between consecutive input values makes a step that is
exactly 0 below the gap and 1 above it, so the output is exact on the inferred
value set, with no accuracy knob.  The numerical, gated and separable staircases
and the SelectorWidth MLP all use this one builder, and its float32 estimate is
judged by the one precision rule (:func:`compiler.precision.judge_staircase`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from compiler.basis import ONE, Direction
from compiler.constructions._base import Unit, Weights, add, directions, matrix
from compiler.precision import Precision, judge_staircase

__all__ = ["Staircase", "staircase"]


@dataclass(frozen=True)
class Staircase:
    """A staircase's units and its float32 verdict."""

    units: tuple[Unit, ...]
    precision: Precision


def staircase(
    x: Direction | Weights,
    xs: tuple,
    outs: list[Weights],
    *,
    gate: Direction | None = None,
    kill: Direction | None = None,
) -> Staircase:
    """Hidden units exact on the sorted inputs ``xs`` of direction ``x`` (or of the
    linear form ``x`` over several directions), writing ``outs[i]`` for ``xs[i]``.

    With ``gate``, the units write only where the (0/1) direction ``gate`` is 1;
    with ``kill``, they write nothing where ``kill`` is 1.  Both work by adding a
    push larger than any pre-activation the unit can reach.

    The base unit writes the output at a *pivot* input, the one with the smallest
    output; steps above it rise (exactly 0 below their gap) and steps below it
    fall (exactly 0 above), so at the pivot every step is exactly 0 and float32
    error grows only with the distance from it.
    """
    form: Weights = {x: 1.0} if isinstance(x, Direction) else x
    pivot = min(range(len(xs)), key=lambda i: max(map(abs, outs[i].values()), default=0.0))
    steps: list[tuple[float, float, Weights]] = [(0.0, 1.0, outs[pivot])]
    reach = 2.0
    for i in range(len(xs) - 1):
        gap = xs[i + 1] - xs[i]
        slope = 2.0 / gap  # the step is 0 at xs[i] and below, 1 at xs[i+1] and above
        mid = (xs[i] + xs[i + 1]) / 2.0
        delta = {d: w for d, w in add(outs[i + 1], outs[i], -1.0).items() if w != 0}
        if not delta:
            continue  # the function does not step here: no units, no precision cost
        neg = {d: -w for d, w in delta.items()}
        if i >= pivot:  # rises: relu(a + 1/2) - relu(a - 1/2), a = slope * (x - mid)
            steps += [(slope, 0.5 - slope * mid, delta), (slope, -0.5 - slope * mid, neg)]
        else:  # falls: the same step as delta - (relu(1/2 - a) - relu(-1/2 - a))
            steps += [(-slope, 0.5 + slope * mid, neg), (-slope, -0.5 + slope * mid, delta)]
        span = max(abs(xs[0] - mid), abs(xs[-1] - mid), abs(mid))
        reach = max(reach, 2.0 * slope * span + 2.0)
    precision = _precision(steps, xs, outs, reach if gate is not None else 0.0)
    base: Weights = {ONE: 1.0} if gate is None else {gate: 1.0}
    units = [(base, outs[pivot])] + [
        (add({d: coef * w for d, w in form.items()}, {ONE: bias}), out)
        for coef, bias, out in steps[1:]
    ]
    if gate is not None:
        units = [units[0]] + [
            (add(w_in, {gate: reach, ONE: -reach}), w_out) for w_in, w_out in units[1:]
        ]
    if kill is not None:
        units = [({**w_in, kill: -reach}, w_out) for w_in, w_out in units]
    return Staircase(tuple(units), precision)


def _precision(
    steps: list[tuple[float, float, Weights]], xs: tuple, outs: list[Weights], push: float
) -> Precision:
    dirs = directions(d for *_, out in steps for d in out)
    if not dirs:
        return Precision(0.0)
    coef, bias = (np.array([step[i] for step in steps]) for i in (0, 1))
    pushes = np.full(len(steps), push)
    pushes[0] = 0.0  # the base unit reads ``one`` or the gate alone
    numeric = np.array([d.value is None for d in dirs])
    out = matrix(dirs, [s[2] for s in steps])
    return judge_staircase(coef, bias, out, matrix(dirs, outs), numeric, xs, pushes)
