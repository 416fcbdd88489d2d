"""Tokens, indices and constants: written by the token and position embeddings, so
they need no block."""

from __future__ import annotations

import rasp
from compiler.constructions._base import Construction, Context, Plan

NAME = "embedded"


def plan(expr: rasp.SOp, ctx: Context) -> Plan:
    return Plan.of(expr.label, NAME, ())


CONSTRUCTION = Construction(
    NAME, (rasp.TokensType, rasp.IndicesType, rasp.Full, rasp.ConstantSOp), 0, plan
)
