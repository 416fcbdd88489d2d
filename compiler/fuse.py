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
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import rasp
from rasp.expr import rebuilt

__all__ = ["fuse_maps"]


def _fusable(expr: rasp.RASPExpr, uses: Counter, output: int) -> bool:
    return (
        type(expr) in (rasp.Map, rasp.SequenceMap)
        and expr.name is None
        and uses[expr.unique_id] == 1
        and expr.unique_id != output
        and rasp.is_categorical(expr)
        and all(not rasp.is_numerical(c) for c in expr.children)
    )


def _then(inner: Callable[..., Any], outer: Callable[[Any], Any]) -> Callable[..., Any]:
    def fused(*args: Any) -> Any:
        mid = inner(*args)
        return None if mid is None else outer(mid)

    return fused


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


def _fuse_one(
    expr: rasp.RASPExpr, kids: tuple, uses: Counter, output: int, only_selects: set[int]
) -> rasp.RASPExpr:
    """``expr`` with fusable inputs absorbed (``kids`` are its already-rewritten children)."""
    if type(expr) is rasp.Select:
        absorbed = _absorb_into_select(expr, kids, only_selects, output)
        if absorbed is not None:
            return absorbed
    if type(expr) is rasp.Map and _fusable(kids[0], uses, output):
        inner = kids[0]
        return rebuilt(expr, inner.children, as_type=type(inner), f=_then(inner.f, expr.f))
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


def fuse_maps(program: rasp.SOp) -> rasp.SOp:
    """``program`` with fusable position-wise chains merged (see the module docstring)."""
    order = rasp.postorder(program)
    uses: Counter = Counter(c.unique_id for e in order for c in e.children)
    read_by_others = {c.unique_id for e in order if type(e) is not rasp.Select for c in e.children}
    only_selects = {e.unique_id for e in order} - read_by_others
    new: dict[int, rasp.RASPExpr] = {}
    for expr in order:
        kids = tuple(new[c.unique_id] for c in expr.children)
        new[expr.unique_id] = _fuse_one(expr, kids, uses, program.unique_id, only_selects)
    return new[program.unique_id]
