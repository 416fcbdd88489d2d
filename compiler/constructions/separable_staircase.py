"""Separable staircase: ``f(x, y) = g(x) + h(y)`` over numbers (e.g. ``tokens + indices``
or ``length - indices - 1``) needs no table.

The first layer computes ``s = sum g(a) x_a + sum h(c) y_c`` from the one-hot inputs,
and a staircase over the distinct values of ``s`` writes ``f``: ``2 * (sums - 1) + 1``
units instead of ``|x| * |y|``.  Chosen when that is smaller than the table and
neither input can be None (a None input would read as g or h of nothing).
"""

from __future__ import annotations

import numpy as np

import rasp
from compiler.basis import Direction
from compiler.constructions._base import Construction, Context, MLPUnits, Plan, Weights
from compiler.constructions._staircase import staircase
from rasp.values import is_number

NAME = "separable staircase"


def plan(expr: rasp.SequenceMap, ctx: Context) -> Plan | None:
    fst, snd = expr.fst, expr.snd
    if None in ctx.values[fst.label] or None in ctx.values[snd.label]:
        return None
    a_vals, c_vals = ctx.vals(fst), ctx.vals(snd)
    if not a_vals or not c_vals:  # an input with no possible value: nothing to sum
        return None
    try:
        table = [[expr.f(a, c) for c in c_vals] for a in a_vals]
    except Exception:  # some pairs are invalid: use the table
        return None
    flat = [v for row in table for v in row]
    if not all(is_number(v) and not isinstance(v, bool) for v in flat):  # no truth tables
        return None
    t = np.asarray(table, dtype=np.float64)
    g, h = t[:, 0] - t[0, 0], t[0, :]
    if not np.allclose(g[:, None] + h[None, :], t, rtol=0, atol=1e-9):
        return None
    sums = sorted(set(flat))
    if 2 * len(sums) - 1 >= len(flat):
        return None  # the lookup table is no bigger
    form: Weights = {Direction(fst.label, a): float(v) for a, v in zip(a_vals, g)}
    form.update({Direction(snd.label, c): float(v) for c, v in zip(c_vals, h)})
    outs = [ctx.encode(expr, v) for v in sums]
    stairs = staircase(form, tuple(float(v) for v in sums), outs)
    problems = [] if stairs.precision.reason is None else [(expr.label, stairs.precision.reason)]
    return Plan.of(expr.label, NAME, [MLPUnits.of(stairs.units)], stairs.precision.error, problems)


CONSTRUCTION = Construction(NAME, (rasp.SequenceMap, rasp.LinearSequenceMap), 40, plan)
