"""``SequenceMap(f, x, x)`` over one categorical SOp: one unit per value of ``x``,
writing ``f(x, x)`` (the table's diagonal, not its square)."""

from __future__ import annotations

import rasp
from compiler.constructions._base import Construction, Context, MLPUnits, Plan

NAME = "diagonal lookup"


def plan(expr: rasp.SequenceMap, ctx: Context) -> Plan | None:
    if expr.fst.label != expr.snd.label or rasp.is_numerical(expr.fst):
        return None
    units = [({d: 1.0}, ctx.attempt(expr, expr.f, d.value, d.value)) for d in ctx.dirs(expr.fst)]
    return Plan.of(expr.label, NAME, [MLPUnits.of(units)])


CONSTRUCTION = Construction(NAME, (rasp.SequenceMap, rasp.LinearSequenceMap), 30, plan)
