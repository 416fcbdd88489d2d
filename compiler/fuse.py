"""Pass 1b: fuse chains of position-wise functions into one MLP.

A Map of a SequenceMap (or of a Map built with ``simplify=False``), or a
SequenceMap one of whose inputs is a Map, computes one position-wise function
of the same inputs, so one MLP can compute the whole chain: that saves an MLP
sub-layer and the intermediate's residual directions (for ``length - indices -
1`` in reverse: a layer and a dozen dimensions; for n-ary SequenceMaps built
from tuples: thousands).

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


def _fuse_one(expr: rasp.RASPExpr, kids: tuple, uses: Counter, output: int) -> rasp.RASPExpr:
    """``expr`` with fusable inputs absorbed (``kids`` are its already-rewritten children)."""
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
    new: dict[int, rasp.RASPExpr] = {}
    for expr in order:
        kids = tuple(new[c.unique_id] for c in expr.children)
        new[expr.unique_id] = _fuse_one(expr, kids, uses, program.unique_id)
    return new[program.unique_id]
