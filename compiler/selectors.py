"""How a selector becomes attention scores: one rule, used by validation and blocks.

A selector is a boolean formula (And / Or / Not) over Select leaves.  Leaves
that compare the same keys SOp with the same queries SOp form a *group*; any
formula over one group is a single predicate on (key, query), so it compiles
to one bilinear table, whatever mix of And, Or and Not it uses (no extra heads,
dimensions or layers).  A conjunction of formulas over different groups adds
their tables: a key is selected iff every group scores, i.e. iff its score
reaches ``n_groups * beta``; BOS is placed half a step below that.  This costs
nothing either (one head, the union of the groups' directions).  Or / Not
across different groups cannot be a sum of bilinear terms and is refused with
a fix (compare one pair of SOps, e.g. SequenceMaps that pair the keys and the
queries).

``None`` follows the evaluator: a leaf never selects a None key or query, and
Not / Or see that as False.  Tables therefore get affine terms through the
``one`` direction, so a None (all-zero) key or query still scores what the
formula says.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import rasp

__all__ = ["Group", "SelectorPlan", "UnsupportedSelector", "conjuncts", "plan_selector"]

Predicate = Callable[[Any, Any], bool]


class UnsupportedSelector(Exception):
    """Internal signal: the selector has no exact attention form (message = reason)."""


@dataclass(frozen=True)
class Group:
    """A formula over Selects that all compare ``keys`` against ``queries``."""

    keys: rasp.SOp
    queries: rasp.SOp
    predicate: Predicate  # (key, query) -> bool, defined for None too


@dataclass(frozen=True)
class SelectorPlan:
    """The selector as a conjunction of groups (one group for a plain Select)."""

    groups: tuple[Group, ...]


def _leaf_predicate(select: rasp.Select) -> Predicate:
    def predicate(key: Any, query: Any) -> bool:
        if key is None or query is None:
            return False
        try:
            return bool(select.predicate(key, query))
        except Exception:  # the evaluator rejects such inputs; nothing valid reaches here
            return False

    return predicate


def _group_key(select: rasp.Select) -> tuple[str, str]:
    return (select.keys.label, select.queries.label)


def _leaves(sel: rasp.Selector) -> list[rasp.Select]:
    found: list[rasp.Select] = []
    stack = [sel]
    while stack:
        node = stack.pop()
        if isinstance(node, rasp.Select):
            found.append(node)
        elif isinstance(node, (rasp.SelectorAnd, rasp.SelectorOr, rasp.SelectorNot)):
            stack.extend(node.children)
        else:
            raise UnsupportedSelector(
                f"{type(node).__name__} {node.label!r} has no attention form; build selectors "
                "from rasp.Select and &, |, ~"
            )
    return found


def _formula(sel: rasp.Selector) -> Predicate:
    """The selector as one predicate (all its leaves must share keys and queries)."""
    if isinstance(sel, rasp.Select):
        return _leaf_predicate(sel)
    if isinstance(sel, rasp.SelectorNot):
        inner = _formula(sel.inner)
        return lambda k, q: not inner(k, q)
    fst, snd = _formula(sel.fst), _formula(sel.snd)
    if isinstance(sel, rasp.SelectorAnd):
        return lambda k, q: fst(k, q) and snd(k, q)
    return lambda k, q: fst(k, q) or snd(k, q)


def conjuncts(sel: rasp.Selector) -> list[rasp.Selector]:
    out: list[rasp.Selector] = []
    stack = [sel]
    while stack:
        node = stack.pop()
        if isinstance(node, rasp.SelectorAnd):
            stack.extend(reversed(node.children))
        else:
            out.append(node)
    return out


def plan_selector(sel: rasp.Selector) -> SelectorPlan:
    """The selector's plan, or :class:`UnsupportedSelector` with the reason."""
    leaves = _leaves(sel)
    first = leaves[0]
    if all(_group_key(leaf) == _group_key(first) for leaf in leaves):
        return SelectorPlan((Group(first.keys, first.queries, _formula(sel)),))
    by_group: dict[tuple[str, str], list[rasp.Selector]] = {}
    for conjunct in conjuncts(sel):
        keys = {_group_key(leaf) for leaf in _leaves(conjunct)}
        if len(keys) != 1:
            raise UnsupportedSelector(
                f"{type(conjunct).__name__} {conjunct.label!r} combines Selects over different "
                "keys/queries SOps with | or ~, which no single attention head computes exactly; "
                "compare one pair of SOps instead (e.g. pair the keys and the queries with "
                "SequenceMaps and Select on the pairs)"
            )
        by_group.setdefault(keys.pop(), []).append(conjunct)
    groups = []
    for parts in by_group.values():
        formulas = [_formula(p) for p in parts]
        leaf = _leaves(parts[0])[0]
        groups.append(
            Group(leaf.keys, leaf.queries, lambda k, q, fs=formulas: all(f(k, q) for f in fs))
        )
    return SelectorPlan(tuple(groups))
