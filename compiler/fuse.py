"""Pass 1b: fuse chains of position-wise functions into one MLP.

A Map of a SequenceMap (or of a Map built with ``simplify=False``), or a
SequenceMap one of whose inputs is a Map, computes one position-wise function
of the same inputs, so one MLP can compute the whole chain: that saves an MLP
sub-layer and the intermediate's residual directions (for ``length - indices -
1`` in reverse: a layer and a dozen dimensions; for n-ary SequenceMaps built
from tuples: thousands).

Likewise a Select comparing an unnamed Map that only Selects read compares the
Map's input through the Map's function (``Select(-hist, -hist, LT)`` becomes a
Select on ``hist``), so that Map needs no MLP at all.

Only *unnamed* intermediates read by nothing else are fused: a node the user
named stays in the model where they can find it, and so does a node that
others read.  ``None`` keeps flowing exactly as the evaluator does it (the outer
function is not applied to an inner None).  Numerical inner nodes are kept:
their MLPs (staircases, linear maps) are cheaper than fused lookups.

A Map of a Map whose input is categorical (``Map(f, Map(g, x))``, the outer one
built with ``simplify=True``, the default) is composed into ``Map(f . g, x)``
even when the inner Map is named or read elsewhere, as Tracr does when it
builds the program: both lookups then run side by side in
one MLP sub-layer, so the chain costs one layer, not one per Map, and the
composed lookup is no wider (lookups are sized by their outputs).  Unlike
Tracr, raspc keeps a *named* inner Map in the model: :meth:`Fusion.keep`
puts it back into the graph next to the composed Map, reading the same input,
so the circuit map still finds and decodes it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import rasp
from compiler.graph import ProgramGraph
from rasp.expr import rebuilt

__all__ = ["Fusion", "fuse_maps", "fuse_program"]


def _fusable(expr: rasp.RASPExpr, uses: Counter, output: int) -> bool:
    return (
        type(expr) in (rasp.Map, rasp.SequenceMap)
        and expr.name is None
        and uses[expr.unique_id] == 1
        and expr.unique_id != output
        and rasp.is_categorical(expr)
        and all(not rasp.is_numerical(c) for c in expr.children)
    )


@dataclass(frozen=True)
class _Chain:
    """Functions applied in turn, the first to the node's inputs; a None stops the chain
    (the evaluator does not apply a Map to None).  Flat, so a chain of thousands of
    composed Maps needs no deep recursion."""

    fns: tuple[Callable[..., Any], ...]

    def __call__(self, *args: Any) -> Any:
        out = self.fns[0](*args)
        for fn in self.fns[1:]:
            if out is None:
                return None
            out = fn(out)
        return out


def _then(inner: Callable[..., Any], outer: Callable[[Any], Any]) -> Callable[..., Any]:
    first = inner.fns if isinstance(inner, _Chain) else (inner,)
    return _Chain((*first, outer))


def _on_fst(f: Callable[[Any, Any], Any], g: Callable[[Any], Any]) -> Callable[..., Any]:
    def fused(x: Any, y: Any) -> Any:
        gx = g(x)
        return None if gx is None else f(gx, y)

    return fused


def _on_snd(f: Callable[[Any, Any], Any], g: Callable[[Any], Any]) -> Callable[..., Any]:
    def fused(x: Any, y: Any) -> Any:
        gy = g(y)
        return None if gy is None else f(x, gy)

    return fused


def _compare_through(pred: Any, f_key: Any, f_query: Any) -> Callable[[Any, Any], bool]:
    def fused(key: Any, query: Any) -> bool:
        k = key if f_key is None else f_key(key)
        q = query if f_query is None else f_query(query)
        return k is not None and q is not None and bool(pred(k, q))

    return fused


def _absorb_into_select(expr: rasp.Select, kids: tuple, only_selects: set[int], output: int):
    """A Select comparing unnamed Maps that only selectors read compares their inputs
    through the Maps' functions instead: the Maps need no MLP at all."""
    keys, queries = kids

    def absorbable(sop: rasp.RASPExpr) -> bool:
        return (
            type(sop) is rasp.Map
            and sop.name is None
            and sop.unique_id in only_selects
            and sop.unique_id != output
            and rasp.is_categorical(sop)
            and rasp.is_categorical(sop.inner)
        )

    f_key = keys.f if absorbable(keys) else None
    f_query = queries.f if absorbable(queries) else None
    if f_key is None and f_query is None:
        return None
    new_keys = keys.inner if f_key is not None else keys
    new_queries = queries.inner if f_query is not None else queries
    return rebuilt(
        expr, (new_keys, new_queries), predicate=_compare_through(expr.predicate, f_key, f_query)
    )


MAX_CHAIN = 256
"""Longest chain of functions composed into one Map.  Each named Map of a chain is kept
and computes its own prefix of the chain, so compile time grows with the square of the
chain; longer chains start a new one (one more MLP layer per this many Maps)."""


def _composable(inner: rasp.RASPExpr) -> bool:
    """A Map whose input is categorical: a Map of it composes into one lookup."""
    if type(inner) is not rasp.Map or rasp.is_numerical(inner.inner):
        return False
    return len(inner.f.fns) < MAX_CHAIN if isinstance(inner.f, _Chain) else True


def _fuse_one(
    expr: rasp.RASPExpr,
    kids: tuple,
    uses: Counter,
    output: int,
    only_selects: set[int],
    kept: list[rasp.RASPExpr],
) -> rasp.RASPExpr:
    """``expr`` with fusable inputs absorbed (``kids`` are its already-rewritten children)."""
    if type(expr) is rasp.Select:
        absorbed = _absorb_into_select(expr, kids, only_selects, output)
        if absorbed is not None:
            return absorbed
    if type(expr) is rasp.Map and _fusable(kids[0], uses, output):
        inner = kids[0]
        return rebuilt(expr, inner.children, as_type=type(inner), f=_then(inner.f, expr.f))
    if type(expr) is rasp.Map and getattr(expr, "simplify", True) and _composable(kids[0]):
        inner = kids[0]
        if inner.name is not None and uses[inner.unique_id] == 1:
            kept.append(inner)  # nothing else reads it: Fusion.keep puts it back
        return rebuilt(expr, inner.children, f=_then(inner.f, expr.f))
    if type(expr) is rasp.SequenceMap and rasp.is_categorical(expr):
        fst, snd = kids
        f = expr.f
        if type(fst) is rasp.Map and fst is not snd and _fusable(fst, uses, output):
            f, fst = _on_fst(f, fst.f), fst.inner
        if type(snd) is rasp.Map and snd is not kids[0] and _fusable(snd, uses, output):
            f, snd = _on_snd(f, snd.f), snd.inner
        if fst is not kids[0] or snd is not kids[1]:
            return rebuilt(expr, (fst, snd), f=f)
    same = all(a is b for a, b in zip(kids, expr.children))
    return expr if same else rebuilt(expr, kids)


@dataclass(frozen=True)
class Fusion:
    """The fused program, and the named Maps composed away that the model still holds."""

    program: rasp.SOp
    kept: tuple[rasp.RASPExpr, ...]

    def keep(self, graph: ProgramGraph) -> ProgramGraph:
        """``graph`` with every kept Map back in it, reading the same inputs as in the
        fused program and placed right after them in the order, so it is computed
        (next to the Map composed from it), allocated and decodable like any node."""
        exprs = dict(graph.exprs)
        order = list(graph.order)
        dag = graph.graph.copy()
        for expr in self.kept:
            label = expr.label
            kids = [c.label for c in expr.children]
            if label in exprs or not all(k in exprs for k in kids):
                continue  # cannot happen for labelled programs; keep the graph consistent
            exprs[label] = expr
            order.insert(max(order.index(k) for k in kids) + 1, label)
            dag.add_node(label)
            for k in kids:
                dag.add_edge(k, label)
        return ProgramGraph(graph=dag, exprs=exprs, order=tuple(order), output=graph.output)


def fuse_program(program: rasp.SOp) -> Fusion:
    """``program`` with fusable position-wise chains merged (see the module docstring)."""
    order = rasp.postorder(program)
    uses: Counter = Counter(c.unique_id for e in order for c in e.children)
    read_by_others = {c.unique_id for e in order if type(e) is not rasp.Select for c in e.children}
    only_selects = {e.unique_id for e in order} - read_by_others
    new: dict[int, rasp.RASPExpr] = {}
    kept: list[rasp.RASPExpr] = []
    for expr in order:
        kids = tuple(new[c.unique_id] for c in expr.children)
        new[expr.unique_id] = _fuse_one(expr, kids, uses, program.unique_id, only_selects, kept)
    return Fusion(new[program.unique_id], tuple(kept))


def fuse_maps(program: rasp.SOp) -> rasp.SOp:
    """The fused program alone (:func:`fuse_program` without the kept Maps)."""
    return fuse_program(program).program
