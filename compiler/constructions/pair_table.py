"""The general categorical SequenceMap: one unit per pair of input values, firing when
both are hot (``x + y - 1``).  The last resort for two categorical inputs, and the
only construction whose size is the product of the value sets."""

from __future__ import annotations

import rasp
from compiler.basis import ONE
from compiler.constructions._base import (
    Construction,
    Context,
    MLPUnits,
    Plan,
    size_problem,
)

NAME = "pair lookup table"


def plan(expr: rasp.SequenceMap, ctx: Context) -> Plan:
    fst, snd = ctx.dirs(expr.fst), ctx.dirs(expr.snd)
    problem = size_problem(expr.label, len(fst) * len(snd), "lookup table")
    if problem is not None:
        return Plan.refused(expr.label, NAME, len(fst) * len(snd), problem)
    units = [
        ({dx: 1.0, dy: 1.0, ONE: -1.0}, ctx.attempt(expr, expr.f, dx.value, dy.value))
        for dx in fst
        for dy in snd
    ]
    return Plan.of(expr.label, NAME, [MLPUnits.of(units)])


CONSTRUCTION = Construction(NAME, (rasp.SequenceMap, rasp.LinearSequenceMap), 50, plan)
