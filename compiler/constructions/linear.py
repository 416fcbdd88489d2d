"""A numerical LinearSequenceMap ``a * x + b * y``: two units (ReLU and its mirror) per
numerical input, one unit per value of a categorical one."""

from __future__ import annotations

import rasp
from compiler.basis import Direction
from compiler.constructions._base import Construction, Context, MLPUnits, Plan, Unit

NAME = "linear combination"


def plan(expr: rasp.SequenceMap, ctx: Context) -> Plan | None:
    if not isinstance(expr, rasp.LinearSequenceMap) or not rasp.is_numerical(expr):
        return None
    out = Direction(expr.label)
    units: list[Unit] = []
    for sop, fac in ((expr.fst, expr.fst_fac), (expr.snd, expr.snd_fac)):
        if rasp.is_numerical(sop):
            d = Direction(sop.label)
            units += [({d: 1.0}, {out: float(fac)}), ({d: -1.0}, {out: -float(fac)})]
        else:
            units += [({d: 1.0}, {out: float(fac) * float(d.value)}) for d in ctx.dirs(sop)]
    return Plan.of(expr.label, NAME, [MLPUnits.of(units)])


CONSTRUCTION = Construction(NAME, (rasp.LinearSequenceMap,), 0, plan)
