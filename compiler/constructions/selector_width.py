"""Selector width: a head that gives BOS the same score as a selected key and reads 1
from BOS, writing ``1 / (width + 1)`` to a scratch direction, then a staircase MLP
that turns that into the width (switched off at BOS by a large negative weight)."""

from __future__ import annotations

import numpy as np

import rasp
from compiler.basis import Direction, internal
from compiler.constructions._attention import Scores, head, selection
from compiler.constructions._base import Construction, Context, MLPUnits, Plan
from compiler.constructions._staircase import staircase

NAME = "selector width"


def width_direction(label: str) -> Direction:
    """The hidden residual direction where a SelectorWidth head writes 1/(width+1)."""
    return internal(label, "width_attn")


def width_plan(expr: rasp.SOp, ctx: Context, scores: Scores, n: int, name: str = NAME) -> Plan:
    """The head and staircase for a width over ``scores`` (``n`` groups)."""
    tmp = width_direction(expr.label)
    attn = head(expr.label, scores, ctx, n * ctx.beta, ((ctx.bos,), (tmp,), np.ones((1, 1))))
    possible = ctx.values[expr.label]
    top = max(v for v in possible if v is not None)
    xs = tuple(sorted(1.0 / (w + 1) for w in range(top + 1)))
    widths = [round(1.0 / x) - 1 for x in xs]
    outs = [ctx.encode(expr, w) if w in possible else {} for w in widths]
    stairs = staircase(tmp, xs, outs, kill=ctx.bos)
    problems = [] if stairs.precision.reason is None else [(expr.label, stairs.precision.reason)]
    steps = [attn, MLPUnits.of(stairs.units)]
    return Plan.of(expr.label, name, steps, stairs.precision.error, problems)


def plan(expr: rasp.SelectorWidth, ctx: Context) -> Plan:
    return width_plan(expr, ctx, *selection(ctx.selectors[expr.selector.label], ctx))


CONSTRUCTION = Construction(NAME, (rasp.SelectorWidth,), 0, plan)
