"""How a selector becomes attention scores: one rule, used by validation and blocks.

A selector is a boolean formula (And / Or / Not) over Select leaves.  Leaves
that compare the same keys SOp with the same queries SOp form a *group*; any
formula over one group is a single predicate on (key, query), so it compiles
to one bilinear table, whatever mix of And, Or and Not it uses (no extra heads,
dimensions or layers).  A conjunction of formulas over different groups adds
their tables: a key is selected iff every group scores, i.e. iff its score
reaches ``n_groups * beta``; BOS is placed half a step below that.  This costs
nothing either (one head, the union of the groups' directions).  Or / Not
across different groups cannot be a sum of bilinear terms: the pairing pass
(:mod:`compiler.pairing`) first rewrites them over pairs of SOps, so what
reaches this module is refused only when its SOps could not be paired.

``None`` follows the evaluator: a leaf never selects a None key or query, and
Not / Or see that as False.  Tables therefore get affine terms through the
``one`` direction, so a None (all-zero) key or query still scores what the
formula says.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

import rasp
from compiler.predicates import Through

__all__ = [
    "Group",
    "SelectorPlan",
    "UnsupportedSelector",
    "conjuncts",
    "group_key",
    "holds",
    "leaves",
    "plan_selector",
]

Predicate = Callable[[Any, Any], bool]


class UnsupportedSelector(Exception):
    """Internal signal: the selector has no exact attention form (message = reason)."""


@dataclass(frozen=True)
class Group:
    """A formula over Selects that all compare ``keys`` against ``queries``: the
    conjunction of ``parts``, each an And/Or/Not tree over such Selects."""

    keys: rasp.SOp
    queries: rasp.SOp
    parts: tuple[rasp.Selector, ...]

    def table(self, key_values: list[Any], query_values: list[Any]) -> np.ndarray:
        """``[len(query_values), len(key_values)]`` booleans: whether the formula
        selects each (key, query) pair; values may include None."""
        out = np.ones((len(query_values), len(key_values)), dtype=bool)
        for part in self.parts:
            out &= _tree_table(part, key_values, query_values)
        return out


def _tree_table(sel: rasp.Selector, keys: list[Any], queries: list[Any]) -> np.ndarray:
    if isinstance(sel, rasp.Select):
        return leaf_table(sel.predicate, keys, queries)
    if isinstance(sel, rasp.SelectorNot):
        return ~_tree_table(sel.inner, keys, queries)
    fst = _tree_table(sel.fst, keys, queries)
    snd = _tree_table(sel.snd, keys, queries)
    return fst & snd if isinstance(sel, rasp.SelectorAnd) else fst | snd


_NUMPY_COMPARE = {
    rasp.Comparison.EQ: np.equal,
    rasp.Comparison.NEQ: np.not_equal,
    rasp.Comparison.LT: np.less,
    rasp.Comparison.LEQ: np.less_equal,
    rasp.Comparison.GT: np.greater,
    rasp.Comparison.GEQ: np.greater_equal,
}


def _ranks(values: list[Any]) -> dict[Any, int] | None:
    """Each value's rank in Python's own order (equal values share one), or None when the
    values cannot all be ordered and hashed together."""
    try:
        distinct = sorted(set(values))
        if not all(a < b for a, b in itertools.pairwise(distinct)):
            return None  # not a total order (e.g. NaN, sets)
    except TypeError:
        return None
    return {v: i for i, v in enumerate(distinct)}


def leaf_table(predicate: Predicate, keys: list[Any], queries: list[Any]) -> np.ndarray:
    """``predicate(key, query)`` for every pair, False where either is None.

    Comparisons are computed on ranks with numpy (one sort instead of a Python
    call per pair); other predicates are called once per pair of distinct values.
    """
    out = np.zeros((len(queries), len(keys)), dtype=bool)
    k_ok = [i for i, k in enumerate(keys) if k is not None]
    q_ok = [i for i, q in enumerate(queries) if q is not None]
    if not k_ok or not q_ok:
        return out
    if isinstance(predicate, Through):  # rewritten by fusion or pairing: look inside
        return leaf_table(
            predicate.predicate, predicate.keys_of(keys), predicate.queries_of(queries)
        )
    if predicate is rasp.Comparison.TRUE or predicate is rasp.Comparison.FALSE:
        out[np.ix_(q_ok, k_ok)] = predicate is rasp.Comparison.TRUE
        return out
    if predicate in _NUMPY_COMPARE:
        ranks = _ranks([keys[i] for i in k_ok] + [queries[i] for i in q_ok])
        if ranks is not None:
            k_rank = np.array([ranks[keys[i]] for i in k_ok])
            q_rank = np.array([ranks[queries[i]] for i in q_ok])
            out[np.ix_(q_ok, k_ok)] = _NUMPY_COMPARE[predicate](k_rank[None, :], q_rank[:, None])
            return out
    for qi in q_ok:
        for ki in k_ok:
            out[qi, ki] = holds(predicate, keys[ki], queries[qi])
    return out


def holds(predicate: Predicate, key: Any, query: Any) -> bool:
    """``predicate(key, query)``, False where it raises.  Value inference records the
    pairs on which a predicate raises (validation refuses them unless ``partial``), so
    nothing valid reaches a pair where this answers False for that reason."""
    try:
        return bool(predicate(key, query))
    except Exception:
        return False


@dataclass(frozen=True)
class SelectorPlan:
    """The selector as a conjunction of groups (one group for a plain Select)."""

    groups: tuple[Group, ...]


def group_key(select: rasp.Select) -> tuple[str, str]:
    return (select.keys.label, select.queries.label)


def leaves(sel: rasp.Selector) -> list[rasp.Select]:
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
    found = leaves(sel)
    first = found[0]
    if all(group_key(leaf) == group_key(first) for leaf in found):
        return SelectorPlan((Group(first.keys, first.queries, (sel,)),))
    by_group: dict[tuple[str, str], list[rasp.Selector]] = {}
    for conjunct in conjuncts(sel):
        keys = {group_key(leaf) for leaf in leaves(conjunct)}
        if len(keys) != 1:
            raise UnsupportedSelector(
                f"{type(conjunct).__name__} {conjunct.label!r} combines Selects over different "
                "keys/queries SOps with | or ~; raspc pairs such SOps into one table, but only "
                "categorical ones, and some of these are numerical; make them categorical "
                "(rasp.categorical(rasp.Map(lambda x: x, sop)))"
            )
        by_group.setdefault(keys.pop(), []).append(conjunct)
    groups = []
    for parts in by_group.values():
        leaf = leaves(parts[0])[0]
        groups.append(Group(leaf.keys, leaf.queries, tuple(parts)))
    return SelectorPlan(tuple(groups))
