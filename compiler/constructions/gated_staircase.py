"""Gated staircases: ``f(x, y)`` with numerical ``x`` and another SOp ``y``.

One staircase over ``x`` per value of ``y``, each gated by that value's (0/1)
direction.  When ``y`` is numerical too, a first MLP writes a categorical copy of
``y`` (scratch gate directions), so the node costs two MLP sub-layers.
"""

from __future__ import annotations

import rasp
from compiler.basis import Direction, internal
from compiler.constructions._base import (
    Construction,
    Context,
    MLPUnits,
    Plan,
    Step,
    Unit,
    size_problem,
)
from compiler.constructions._staircase import staircase
from rasp.errors import Problem

NAME = "gated staircases"


def plan(expr: rasp.SequenceMap, ctx: Context) -> Plan | None:
    fst, snd = expr.fst, expr.snd
    if fst.label == snd.label or not (rasp.is_numerical(fst) or rasp.is_numerical(snd)):
        return None
    flip = not rasp.is_numerical(fst)
    x, y = (snd, fst) if flip else (fst, snd)
    xs = ctx.vals(x)
    steps: list[Step] = []
    problems: list[Problem] = []
    error = 0.0
    if rasp.is_numerical(y):
        ys = ctx.vals(y)
        gates = [internal(expr.label, f"gate({y.label})", v) for v in ys]
        copy = staircase(Direction(y.label), ys, [{g: 1.0} for g in gates])
        steps.append(MLPUnits.of(copy.units))
        error = copy.precision.error
        if copy.precision.reason is not None:
            problems.append((expr.label, copy.precision.reason))
    else:
        gates = list(ctx.dirs(y))
    size = 2 * len(gates) * len(xs)
    too_big = size_problem(expr.label, size, "gated staircases (one per value of the other input)")
    if too_big is not None:
        return Plan(expr.label, NAME, size, 0, error, (*problems, too_big), ())
    units: list[Unit] = []
    for gate in gates:
        v = gate.value
        outs = [ctx.attempt(expr, expr.f, *((v, xv) if flip else (xv, v))) for xv in xs]
        stairs = staircase(Direction(x.label), xs, outs, gate=gate)
        units += stairs.units
        error = max(error, stairs.precision.error)
        if stairs.precision.reason is not None:
            problems.append((expr.label, stairs.precision.reason))
    steps.append(MLPUnits.of(units))
    return Plan.of(expr.label, NAME, steps, error, problems)


CONSTRUCTION = Construction(NAME, (rasp.SequenceMap, rasp.LinearSequenceMap), 20, plan)
