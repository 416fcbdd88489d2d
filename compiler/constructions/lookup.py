"""Categorical lookup: a Map from a one-hot (categorical) input.

Sized by what the table needs, not by the input.  A categorical output needs one
unit per distinct output value, reading the sum of the inputs that map to it
(exactly 0 or 1 on a one-hot input; Tracr's size).  A numerical output needs at
most two units: ``relu(sum f(x) x)`` over the positive values and its mirror over
the negative ones, since one input is hot at a time (Tracr's single unit loses
the negative values).
"""

from __future__ import annotations

import rasp
from compiler.basis import Direction
from compiler.constructions._base import Construction, Context, MLPUnits, Plan, Unit, Weights

NAME = "categorical lookup"


def lookup_units(table: list[tuple[Direction, Weights]], numerical: Direction | None) -> list[Unit]:
    """Hidden units for ``table`` (each input direction and the output weights it
    writes) into a categorical output, or into the ``numerical`` output direction."""
    if numerical is not None:
        units = []
        for sign in (1.0, -1.0):
            w_in = {d: sign * w for d, out in table for w in out.values() if sign * w > 0}
            if w_in:
                units.append((w_in, {numerical: sign}))
        return units
    groups: dict[tuple, Unit] = {}
    for d, out in table:
        key = tuple(sorted((str(o), w) for o, w in out.items()))
        w_in, _ = groups.setdefault(key, ({}, out))
        w_in[d] = 1.0
    return list(groups.values())


def plan(expr: rasp.Map, ctx: Context) -> Plan | None:
    if rasp.is_numerical(expr.inner):
        return None
    table = [(d, ctx.attempt(expr, expr.f, d.value)) for d in ctx.dirs(expr.inner)]
    target = Direction(expr.label) if rasp.is_numerical(expr) else None
    return Plan.of(expr.label, NAME, [MLPUnits.of(lookup_units(table, target))])


CONSTRUCTION = Construction(NAME, (rasp.Map,), 20, plan)
