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

from collections.abc import Callable
from typing import Any

import rasp
from compiler.selectors import UnsupportedSelector, group_key, leaves
from rasp.expr import rebuilt

__all__ = ["Zip", "pair_selectors"]


class Zip(rasp.SOp):
    """Compiler-internal: the tuple of ``parts``' values at each position, with None
    components kept (the tuple itself is never None).  ``origin`` is the label of the
    user's selector it was built for, so reports can name it."""

    _kind = "zip"
    _children_tuple = "parts"  # so rasp.expr.rebuilt (relabelling) can rebuild it

    def __init__(self, parts: tuple[rasp.SOp, ...], origin: str):
        super().__init__()
        self._init_field("parts", tuple(parts))
        self._init_field("origin", origin)

    @property
    def children(self) -> tuple[rasp.RASPExpr, ...]:
        return self.parts

    __hash__ = rasp.SOp.__hash__


def _through(predicate: Any, key_index: int | None, query_index: int | None) -> Callable:
    """``predicate`` on one component of each pair (None: the side is not a pair)."""

    def paired(key: Any, query: Any) -> bool:
        k = key if key_index is None else key[key_index]
        q = query if query_index is None else query[query_index]
        return k is not None and q is not None and bool(predicate(k, q))

    return paired


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
            out = sel if same else rebuilt(sel, (fst, snd))
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
    if isinstance(sel, rasp.SelectorNot):
        return ~kids[0]
    if isinstance(sel, rasp.SelectorAnd):
        return kids[0] & kids[1]
    return kids[0] | kids[1]


def pair_selectors(program: rasp.SOp) -> rasp.SOp:
    """``program`` with | and ~ across different Selects paired (see the module
    docstring); programs without them come back unchanged."""
    pairing = _Pairing()
    new: dict[int, rasp.RASPExpr] = {}
    for expr in rasp.postorder(program):
        kids = tuple(new[c.unique_id] for c in expr.children)
        if isinstance(expr, (rasp.Aggregate, rasp.SelectorWidth)):
            sel = pairing.selector(kids[0], expr.label)
            kids = (sel, *kids[1:])
        same = all(a is b for a, b in zip(kids, expr.children))
        new[expr.unique_id] = expr if same else rebuilt(expr, kids)
    return new[program.unique_id]
