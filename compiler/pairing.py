"""Pass 1c: pair SOps so that | and ~ across different Selects become one table.

One attention head scores ``key`` against ``query`` with one bilinear table,
so a selector compiles directly when its | and ~ only combine Selects over the
same keys SOp and the same queries SOp (see :mod:`compiler.selectors`).  For
``Select(k1, q1, p1) | Select(k2, q2, p2)`` this pass builds the pairs
``(k1, k2)`` and ``(q1, q2)`` (a :class:`Zip`, one MLP lookup) and rewrites each
Select to compare the pairs through its own component, so the formula is over
one pair of SOps again: exact, for one MLP sub-layer and the pairs' directions.

A Zip keeps None components (a Select never selects a None key or query, so
``Select(k1, ...) | Select(k2, ...)`` must still see ``k2`` where ``k1`` is None),
which a SequenceMap cannot: it is None wherever an input is.  Only conjuncts
whose Selects all compare categorical SOps are paired; anything else is left
for validation to refuse with its own reason.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import rasp
from compiler.predicates import Component, Through
from compiler.selectors import UnsupportedSelector, group_key, leaves
from rasp.errors import RaspcTypeError
from rasp.expr import NODE_TYPES, Zip, rule_for, with_children

__all__ = ["COMBINE_RULES", "RULES", "Zip", "pair_selectors"]


def _through(predicate: Any, key_index: int | None, query_index: int | None) -> Through:
    """``predicate`` on one component of each pair (None: the side is not a pair)."""
    key_fn = None if key_index is None else Component(key_index)
    query_fn = None if query_index is None else Component(query_index)
    return Through(predicate, key_fn, query_fn)


class _Pairing:
    def __init__(self) -> None:
        self.zips: dict[tuple[str, ...], Zip] = {}
        self.done: dict[int, rasp.Selector] = {}

    def side(self, sops: list[rasp.SOp], origin: str) -> tuple[rasp.SOp, dict[str, int | None]]:
        """One SOp standing for ``sops`` and where each of them sits in it."""
        distinct = list({sop.label: sop for sop in sops}.values())
        if len(distinct) == 1:
            return distinct[0], {distinct[0].label: None}
        labels = tuple(sop.label for sop in distinct)
        if labels not in self.zips:
            self.zips[labels] = Zip(tuple(distinct), origin)
        return self.zips[labels], {label: i for i, label in enumerate(labels)}

    def conjunct(self, sel: rasp.Selector, origin: str) -> rasp.Selector:
        """``sel`` with every Select comparing the same pair of (zipped) SOps."""
        try:
            found = leaves(sel)
        except UnsupportedSelector:
            return sel  # validation refuses it with the reason
        if len({group_key(leaf) for leaf in found}) == 1:
            return sel
        sides = [leaf.keys for leaf in found] + [leaf.queries for leaf in found]
        if not all(rasp.is_categorical(sop) for sop in sides):
            return sel  # validation says why the Selects need categorical SOps
        keys, k_at = self.side([leaf.keys for leaf in found], origin)
        queries, q_at = self.side([leaf.queries for leaf in found], origin)
        new: dict[int, rasp.Selector] = {}
        for leaf in found:
            predicate = _through(leaf.predicate, k_at[leaf.keys.label], q_at[leaf.queries.label])
            new[leaf.unique_id] = rasp.Select(keys, queries, predicate)
        return _replace(sel, new)

    def selector(self, sel: rasp.Selector, origin: str) -> rasp.Selector:
        """``sel`` with each mixed conjunct paired (conjunctions across groups are free)."""
        if sel.unique_id in self.done:
            return self.done[sel.unique_id]
        if isinstance(sel, rasp.SelectorAnd):
            fst, snd = (self.selector(child, origin) for child in sel.children)
            same = fst is sel.children[0] and snd is sel.children[1]
            out = sel if same else with_children(sel, (fst, snd), sel.label)
        else:
            out = self.conjunct(sel, origin)
        self.done[sel.unique_id] = out
        return out


def _replace(sel: rasp.Selector, new: dict[int, rasp.Selector]) -> rasp.Selector:
    """``sel`` rebuilt with leaves replaced; combinators get fresh labels, since the
    original (unpaired) combinator may still be used elsewhere."""
    if sel.unique_id in new:
        return new[sel.unique_id]
    kids = tuple(_replace(child, new) for child in sel.children)
    return rule_for(COMBINE_RULES, sel, "selector-pairing")(sel, kids)


def _fresh_combinator(sel: rasp.Selector, kids: tuple) -> rasp.Selector:
    return type(sel)(*kids)  # unnamed and unlabelled: see _replace


def _not_a_combinator(expr: rasp.RASPExpr, kids: tuple) -> rasp.Selector:
    raise RaspcTypeError(
        f"internal error: pairing met {type(expr).__name__} {expr.label!r} inside a selector "
        "formula, where only Selects (already replaced) and &, |, ~ can be"
    )


COMBINE_RULES: Mapping[type, Callable[[Any, tuple], rasp.Selector]] = {
    **dict.fromkeys(NODE_TYPES, _not_a_combinator),
    rasp.SelectorAnd: _fresh_combinator,
    rasp.SelectorOr: _fresh_combinator,
    rasp.SelectorNot: _fresh_combinator,
}
"""Per node type: a paired formula's combinator rebuilt over its paired inputs."""


def _as_is(expr: rasp.RASPExpr, kids: tuple, pairing: _Pairing) -> tuple:
    return kids


def _pair_selector_input(
    expr: rasp.Aggregate | rasp.SelectorWidth, kids: tuple, pairing: _Pairing
) -> tuple:
    """The selector an Aggregate or SelectorWidth reads, paired (named after it)."""
    return (pairing.selector(kids[0], expr.label), *kids[1:])


RULES: Mapping[type, Callable[[Any, tuple, _Pairing], tuple]] = {
    **dict.fromkeys(NODE_TYPES, _as_is),
    rasp.Aggregate: _pair_selector_input,
    rasp.SelectorWidth: _pair_selector_input,
}
"""Per node type: its (rewritten) inputs, paired where it reads a selector; every other
node, selectors included, is rebuilt over its inputs as they are."""


def pair_selectors(program: rasp.SOp) -> rasp.SOp:
    """``program`` with | and ~ across different Selects paired (see the module
    docstring); programs without them come back unchanged."""
    pairing = _Pairing()
    new: dict[int, rasp.RASPExpr] = {}
    for expr in rasp.postorder(program):
        kids = tuple(new[c.unique_id] for c in expr.children)
        kids = rule_for(RULES, expr, "selector-pairing")(expr, kids, pairing)
        same = all(a is b for a, b in zip(kids, expr.children))
        new[expr.unique_id] = expr if same else with_children(expr, kids, expr.label)
    return new[program.unique_id]
