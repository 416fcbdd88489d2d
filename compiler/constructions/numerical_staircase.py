"""Numerical staircase: a function of one numerical SOp (``Map(f, x)``, or
``SequenceMap(f, x, x)``) as a staircase over ``x``'s listed values: a pair of ReLUs
per gap where ``f`` steps, exact on every value ``x`` can take."""

from __future__ import annotations

import rasp
from compiler.basis import Direction
from compiler.constructions._base import Construction, Context, MLPUnits, Plan
from compiler.constructions._staircase import staircase

NAME = "numerical staircase"


def plan(expr: rasp.Map | rasp.SequenceMap, ctx: Context) -> Plan | None:
    if isinstance(expr, rasp.Map):
        x, args = expr.inner, 1
    elif expr.fst.label == expr.snd.label:
        x, args = expr.fst, 2
    else:
        return None
    if not rasp.is_numerical(x):
        return None
    xs = ctx.vals(x)
    outs = [ctx.attempt(expr, expr.f, *([v] * args)) for v in xs]
    stairs = staircase(Direction(x.label), xs, outs)
    problems = [] if stairs.precision.reason is None else [(expr.label, stairs.precision.reason)]
    return Plan.of(expr.label, NAME, [MLPUnits.of(stairs.units)], stairs.precision.error, problems)


CONSTRUCTION = Construction(NAME, (rasp.Map, rasp.SequenceMap, rasp.LinearSequenceMap), 10, plan)
