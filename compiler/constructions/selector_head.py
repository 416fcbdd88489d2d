"""Selector head: Select + Aggregate as one attention head.

Scores are ``beta`` where the predicate holds, ``(n - 1/2) * beta`` from every query
to BOS (``n`` the selector's groups), 0 elsewhere.  So a query attends to its
selected keys, or only to BOS (whose value is zero) when none is selected, and the
softmax is hard (see :data:`~compiler.constructions._base.SOFTMAX_BETA`).  Where the
default is reachable and not zero, the head also writes a "selected any" flag and a
one-unit MLP writes the default where it is 0.
"""

from __future__ import annotations

import rasp
from compiler.basis import ONE, Direction, internal
from compiler.constructions._attention import head, selection
from compiler.constructions._base import (
    Construction,
    Context,
    MLPUnits,
    Plan,
    Weights,
    directions,
    matrix,
)

NAME = "selector head"


def plan(expr: rasp.Aggregate, ctx: Context) -> Plan:
    scores, n = selection(ctx.selectors[expr.selector.label], ctx)
    sop = expr.sop
    rows: dict[Direction, Weights] = {}
    if rasp.is_numerical(sop):
        rows[Direction(sop.label)] = ctx.encode(expr, 1.0)
    else:
        for d in ctx.dirs(sop):
            rows[d] = ctx.encode(expr, float(d.value) if rasp.is_numerical(expr) else d.value)
    # value inference leaves the default out where the selection is never empty
    reachable = rasp.is_numerical(expr) or expr.default in ctx.values[expr.label]
    default = ctx.encode(expr, expr.default) if reachable else {}
    flag = internal(expr.label, "selected_any")
    if default:  # the head also reads ``one`` (0 at BOS): 1 where any key is selected
        rows[ONE] = {flag: 1.0}
    v_dirs = tuple(rows)
    o_dirs = directions(d for weights in rows.values() for d in weights)
    w_ov = matrix(o_dirs, list(rows.values()))
    attn = head(expr.label, scores, ctx, (n - 0.5) * ctx.beta, (v_dirs, o_dirs, w_ov))
    if not default:
        return Plan.of(expr.label, NAME, [attn])
    # the default where nothing is selected (a selected None stays None: the flag is 1)
    return Plan.of(expr.label, NAME, [attn, MLPUnits.of([({ONE: 1.0, flag: -1.0}, default)])])


CONSTRUCTION = Construction(NAME, (rasp.Aggregate,), 0, plan)
