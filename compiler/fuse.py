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
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import rasp
from compiler.graph import ProgramGraph
from compiler.predicates import Through, describe
from rasp.expr import Zip, replace, rule_for, with_children
from rasp.walk import relabel

__all__ = ["RULES", "Fusion", "fuse_maps", "fuse_program"]


def _fusable(expr: rasp.RASPExpr, uses: Counter, output: str) -> bool:
    return (
        type(expr) in (rasp.Map, rasp.SequenceMap)
        and expr.name is None
        and uses[expr.label] == 1
        and expr.label != output
        and rasp.is_categorical(expr)
        and all(not rasp.is_numerical(c) for c in expr.children)
    )


@dataclass(frozen=True)
class _Chain:
    """Functions applied in turn, the first to the node's inputs; a None stops the chain
    (the evaluator does not apply a Map to None).  Flat, so a chain of thousands of
    composed Maps needs no deep recursion."""

    fns: tuple[Callable[..., Any], ...]

    def describe(self) -> str:
        """The functions in the order they apply, e.g. ``f . g`` for ``f(g(x))``."""
        return " . ".join(describe(fn) for fn in reversed(self.fns))

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


@dataclass(frozen=True)
class _OnArgument:
    """``f(x, y)`` with ``g`` applied first to argument ``index`` (0: ``x``, 1: ``y``);
    None where ``g`` gives None, as the evaluator never applies ``f`` to a None input."""

    f: Callable[[Any, Any], Any]
    g: Callable[[Any], Any]
    index: int

    def __call__(self, x: Any, y: Any) -> Any:
        args = [x, y]
        args[self.index] = self.g(args[self.index])
        return None if args[self.index] is None else self.f(*args)

    def describe(self) -> str:
        sides = ["x", "y"]
        sides[self.index] = f"{describe(self.g)}({sides[self.index]})"
        return f"{describe(self.f)}({', '.join(sides)})"


def _on_fst(f: Callable[[Any, Any], Any], g: Callable[[Any], Any]) -> Callable[..., Any]:
    return _OnArgument(f, g, 0)


def _on_snd(f: Callable[[Any, Any], Any], g: Callable[[Any], Any]) -> Callable[..., Any]:
    return _OnArgument(f, g, 1)


MAX_CHAIN = 256
"""Longest chain of functions composed into one Map.  Each named Map of a chain is kept
and computes its own prefix of the chain, so compile time grows with the square of the
chain; longer chains start a new one (one more MLP layer per this many Maps)."""


def _composable(inner: rasp.RASPExpr) -> bool:
    """A Map whose input is categorical: a Map of it composes into one lookup."""
    if type(inner) is not rasp.Map or rasp.is_numerical(inner.inner):
        return False
    return len(inner.f.fns) < MAX_CHAIN if isinstance(inner.f, _Chain) else True


@dataclass(frozen=True)
class _Uses:
    """What fusion must know of the whole (labelled) program to rewrite one node."""

    uses: Counter  # label -> how many nodes read it
    only_selects: frozenset[str]  # labels read by Selects only
    output: str
    kept: list[rasp.RASPExpr]  # named Maps composed away (Fusion.keep puts them back)

    def fusable(self, expr: rasp.RASPExpr) -> bool:
        return _fusable(expr, self.uses, self.output)


def _as_is(expr: rasp.RASPExpr, kids: tuple, ctx: _Uses) -> rasp.RASPExpr:
    """``expr`` reading its rewritten inputs, nothing fused into it."""
    same = all(a is b for a, b in zip(kids, expr.children))
    return expr if same else with_children(expr, kids, expr.label)


def _fuse_select(expr: rasp.Select, kids: tuple, ctx: _Uses) -> rasp.RASPExpr:
    """A Select comparing unnamed Maps that only selectors read compares their inputs
    through the Maps' functions instead: the Maps need no MLP at all."""
    keys, queries = kids

    def absorbable(sop: rasp.RASPExpr) -> bool:
        return (
            type(sop) is rasp.Map
            and sop.name is None
            and sop.label in ctx.only_selects
            and sop.label != ctx.output
            and rasp.is_categorical(sop)
            and rasp.is_categorical(sop.inner)
        )

    f_key = keys.f if absorbable(keys) else None
    f_query = queries.f if absorbable(queries) else None
    if f_key is None and f_query is None:
        return _as_is(expr, kids, ctx)
    new_keys = keys.inner if f_key is not None else keys
    new_queries = queries.inner if f_query is not None else queries
    predicate = Through(expr.predicate, f_key, f_query)
    return with_children(expr, (new_keys, new_queries), expr.label, predicate=predicate)


def _fuse_map(expr: rasp.Map, kids: tuple, ctx: _Uses) -> rasp.RASPExpr:
    """A Map of a fusable Map or SequenceMap becomes one node computing both; a Map of
    a Map over a categorical input composes (a named inner Map is kept)."""
    inner = kids[0]
    if ctx.fusable(inner):
        f = _then(inner.f, expr.f)
        if type(inner) is rasp.Map:
            return with_children(expr, inner.children, expr.label, f=f)
        return replace(inner, expr.label, f=f, _annotations=expr._annotations)
    if expr.simplify and _composable(inner):
        if inner.name is not None and ctx.uses[inner.label] == 1:
            ctx.kept.append(inner)  # nothing else reads it: Fusion.keep puts it back
        return with_children(expr, inner.children, expr.label, f=_then(inner.f, expr.f))
    return _as_is(expr, kids, ctx)


def _fuse_sequence_map(expr: rasp.SequenceMap, kids: tuple, ctx: _Uses) -> rasp.RASPExpr:
    """A categorical SequenceMap absorbs fusable Maps of either input."""
    if not rasp.is_categorical(expr):
        return _as_is(expr, kids, ctx)
    fst, snd = kids
    f = expr.f
    if type(fst) is rasp.Map and fst is not snd and ctx.fusable(fst):
        f, fst = _on_fst(f, fst.f), fst.inner
    if type(snd) is rasp.Map and snd is not kids[0] and ctx.fusable(snd):
        f, snd = _on_snd(f, snd.f), snd.inner
    if fst is not kids[0] or snd is not kids[1]:
        return with_children(expr, (fst, snd), expr.label, f=f)
    return _as_is(expr, kids, ctx)


RULES: Mapping[type, Callable[[Any, tuple, _Uses], rasp.RASPExpr]] = {
    rasp.TokensType: _as_is,
    rasp.IndicesType: _as_is,
    rasp.LengthType: _as_is,
    rasp.Map: _fuse_map,
    rasp.SequenceMap: _fuse_sequence_map,
    rasp.LinearSequenceMap: _as_is,  # built without lookups: nothing to fuse into it
    rasp.Full: _as_is,
    rasp.ConstantSOp: _as_is,
    rasp.Aggregate: _as_is,
    rasp.SelectorWidth: _as_is,
    Zip: _as_is,
    rasp.Select: _fuse_select,
    rasp.ConstantSelector: _as_is,
    rasp.SelectorAnd: _as_is,
    rasp.SelectorOr: _as_is,
    rasp.SelectorNot: _as_is,
}
"""Per node type: the node with fusable inputs absorbed (its inputs already rewritten)."""


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
    """``program`` with fusable position-wise chains merged (see the module docstring).

    Nodes are told apart by label, so the program is labelled first (a no-op for the
    compiler, which labels the user's program before any rewrite)."""
    program = relabel(program)
    order = rasp.postorder(program)
    uses: Counter = Counter(c.label for e in order for c in e.children)
    read_by_others = {c.label for e in order if type(e) is not rasp.Select for c in e.children}
    only_selects = {e.label for e in order} - read_by_others
    ctx = _Uses(uses, frozenset(only_selects), program.label, [])
    new: dict[int, rasp.RASPExpr] = {}
    for expr in order:
        kids = tuple(new[c.unique_id] for c in expr.children)
        new[expr.unique_id] = rule_for(RULES, expr, "fusion")(expr, kids, ctx)
    return Fusion(new[program.unique_id], tuple(ctx.kept))


def fuse_maps(program: rasp.SOp) -> rasp.SOp:
    """The fused program alone (:func:`fuse_program` without the kept Maps)."""
    return fuse_program(program).program
