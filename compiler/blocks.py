"""Pass 4: plan every node's construction, then build its blocks from the plans.

Each node type has a rule (:data:`RULES`).  An SOp's rule picks its construction
(one module each, in :mod:`compiler.constructions`): a Map or SequenceMap becomes an
MLP (lookup tables over one-hot inputs, staircases over numbers), an Aggregate one
attention head, a SelectorWidth (and ``length``) a head and a staircase.  Selectors
need no block of their own: each compiles inside the head of every node that uses it.

Planning the whole graph comes first: every plan states its construction, its exact
hidden size, its float32 error estimate and its problems.  Those problems join
validation's, and one :class:`UnsupportedProgramError` lists them all; only when there
are none are blocks built, from the plans (nothing is decided twice).

No bias vectors are used: the ``one`` direction (1 at every token, 0 at BOS)
plays the bias, so every block writes exactly zero into program nodes at the
BOS position and BOS stays a clean attention sink through the whole model.
(The one exception is a SelectorWidth head's scratch direction, which reads 1
at BOS; its MLP is switched off there by a large negative weight on BOS.)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

import networkx as nx

import rasp
from compiler.basis import Direction
from compiler.constructions import BY_TYPE, Context, Plan
from compiler.constructions._base import (
    MAX_TABLE,
    SOFTMAX_BETA,
    Block,
    HeadBlock,
    MLPBlock,
    Stage,
    bos_direction,
    encode,
    node_directions,
)
from compiler.constructions.selector_width import width_direction
from compiler.graph import ProgramGraph
from compiler.selectors import SelectorPlan, UnsupportedSelector, plan_selector
from compiler.validate import raise_problems
from compiler.values import ValueSets
from rasp.errors import CompileError, Problem

__all__ = [
    "SOFTMAX_BETA",
    "MAX_TABLE",
    "RULES",
    "Stage",
    "MLPBlock",
    "HeadBlock",
    "Block",
    "Plan",
    "build_blocks",
    "encode",
    "plan_blocks",
    "plan_selectors",
    "node_directions",
    "bos_direction",
    "width_direction",
]

Rule = Callable[[Any, Context], Plan | None]


def _construct(expr: rasp.SOp, ctx: Context) -> Plan:
    """The plan of the first construction (by rank) that applies to ``expr``."""
    for construction in BY_TYPE[type(expr)]:
        plan = construction.plan(expr, ctx)
        if plan is not None:
            return plan
    raise CompileError([(expr.label, f"no construction applies to {type(expr).__name__}")])


def _in_heads(expr: rasp.Selector, ctx: Context) -> None:
    """A selector has no block: its plan (:func:`plan_selectors`) becomes part of the
    head of each Aggregate or SelectorWidth that uses it."""
    return None


RULES: Mapping[type, Rule] = {
    **{node_type: _construct for node_type in BY_TYPE},
    rasp.Select: _in_heads,
    rasp.SelectorAnd: _in_heads,
    rasp.SelectorOr: _in_heads,
    rasp.SelectorNot: _in_heads,
    rasp.ConstantSelector: _in_heads,
}
"""Node type -> how it is planned: SOps by their constructions, selectors in heads."""


def plan_selectors(graph: ProgramGraph) -> dict[str, SelectorPlan | Problem]:
    """The plan of every selector a head uses, or the problem (on the selector) that it
    has no attention form.  This depends on the selector's shape only, not on value
    sets, so it is judged even where validation found problems below it."""
    plans: dict[str, SelectorPlan | Problem] = {}
    for label in graph.order:
        expr = graph.expr(label)
        if not isinstance(expr, (rasp.Aggregate, rasp.SelectorWidth)):
            continue
        sel = expr.selector
        if sel.label not in plans:
            try:
                plans[sel.label] = plan_selector(sel)
            except UnsupportedSelector as exc:
                plans[sel.label] = (sel.label, str(exc))
    return plans


def plan_blocks(
    graph: ProgramGraph,
    values: ValueSets,
    bos: Direction,
    beta: float = SOFTMAX_BETA,
    skip: frozenset[str] = frozenset(),
    selectors: Mapping[str, SelectorPlan] | None = None,
) -> dict[str, Plan]:
    """The plan of every SOp not in ``skip``, in dependency order (selectors get none).
    ``selectors``: the plans of the selectors the heads use (default: planned here;
    every one of them must have a plan)."""
    if selectors is None:
        selectors = {k: v for k, v in plan_selectors(graph).items() if not isinstance(v, tuple)}
    ctx = Context(graph, values, bos, beta, MappingProxyType(dict(selectors)))
    plans: dict[str, Plan] = {}
    for label in graph.order:
        if label in skip:
            continue
        expr = graph.expr(label)
        rule = RULES.get(type(expr))
        if rule is None:
            raise CompileError([(label, f"{type(expr).__name__} has no rule in compiler.blocks")])
        plan = rule(expr, ctx)
        if plan is not None:
            plans[label] = plan
    return plans


def _broken(graph: ProgramGraph, prior: Sequence[Problem]) -> frozenset[str]:
    """Nodes with a prior problem and everything computed from them: the rules they
    break are what the constructions assume, so they are not planned."""
    broken = {label for label, _ in prior if label in graph.graph}
    for label in list(broken):
        broken |= nx.descendants(graph.graph, label)
    return frozenset(broken)


def build_blocks(
    graph: ProgramGraph,
    values: ValueSets,
    bos: Direction,
    beta: float = SOFTMAX_BETA,
    prior: Sequence[Problem] = (),
) -> dict[str, list[Block]]:
    """The blocks computing each SOp, in the order they must run (selectors get none).

    ``prior`` are the problems validation found: those nodes (and selectors without
    an attention form) and everything computed from them are not planned, the rest
    are, and one :class:`UnsupportedProgramError` lists the problems of validation, of
    the selectors and of every plan."""
    selectors = plan_selectors(graph)
    unsupported = [p for p in selectors.values() if isinstance(p, tuple)]
    ok = {label: p for label, p in selectors.items() if not isinstance(p, tuple)}
    own = [*prior, *unsupported]
    plans = plan_blocks(graph, values, bos, beta, _broken(graph, own), ok)
    raise_problems(own, plans.values())
    return {label: plan.blocks() for label, plan in plans.items()}
