"""Pairing: the compiler-internal :class:`~compiler.pairing.Zip` (the tuple of its
parts' values, None components kept) as one unit per tuple of the parts' values.

The unit sums one indicator per part and fires at ``len(parts)``.  A value's
indicator is its direction; None's is ``one - sum(directions)``, 1 exactly where the
part holds nothing.  (How many tuples a Zip may take is a value-set rule, judged by
validation before any plan.)
"""

from __future__ import annotations

import itertools
from typing import Any

from compiler.basis import ONE
from compiler.constructions._base import Construction, Context, MLPUnits, Plan, Weights, add
from compiler.pairing import Zip

NAME = "pairing (zip) lookup"


def plan(expr: Zip, ctx: Context) -> Plan:
    options = []
    for part in expr.parts:
        dirs = ctx.dirs(part)
        found: list[tuple[Any, Weights]] = [(d.value, {d: 1.0}) for d in dirs]
        if None in ctx.values[part.label]:
            found.append((None, {ONE: 1.0, **{d: -1.0 for d in dirs}}))
        options.append(found)
    units = []
    for combo in itertools.product(*options):
        w_in: Weights = {ONE: 1.0 - len(combo)}
        for _, indicator in combo:
            w_in = add(w_in, indicator)
        units.append((w_in, ctx.encode(expr, tuple(value for value, _ in combo))))
    return Plan.of(expr.label, NAME, [MLPUnits.of(units)])


CONSTRUCTION = Construction(NAME, (Zip,), 0, plan)
