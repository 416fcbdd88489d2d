"""``length``: the selector width of an always-true selection (one group scoring
``beta`` on every key)."""

from __future__ import annotations

import numpy as np

import rasp
from compiler.basis import ONE
from compiler.constructions._base import Construction, Context, Plan
from compiler.constructions.selector_width import width_plan

NAME = "length (width of everything)"


def plan(expr: rasp.LengthType, ctx: Context) -> Plan:
    return width_plan(expr, ctx, ((ONE,), (ONE,), np.full((1, 1), ctx.beta)), 1, NAME)


CONSTRUCTION = Construction(NAME, (rasp.LengthType,), 0, plan)
