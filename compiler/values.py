"""Pass 2: the finite set of values every SOp can take.

From the vocabulary and ``max_seq_len``, each rule over-approximates the values
a node can hold on any valid input: a Map applies its function to each input
value, a SequenceMap to each pair, a numerical mean takes every reachable
average.  ``None`` in a set means "may be None" (categorical nodes hold None
as the all-zero vector).  A set is ``None`` when it is too large to list; the
validation pass refuses only the nodes that need it listed.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import rasp
from compiler.graph import ProgramGraph

__all__ = ["ValueSets", "infer_value_sets", "MAX_VALUES", "representative"]

ValueSet = frozenset | None
ValueSets = dict[str, ValueSet]
MAX_VALUES = 20_000
"""Largest value set listed; beyond it a set is unknown (None)."""


class _Inference:
    def __init__(self, vocab: frozenset, max_seq_len: int):
        self.vocab = vocab
        self.max_seq_len = max_seq_len
        self.sets: ValueSets = {}

    def of(self, expr: rasp.RASPExpr) -> ValueSet:
        return self.sets[expr.label]


def _apply_all(fn: Callable[..., Any], arg_sets: list[frozenset]) -> ValueSet:
    """``fn`` over every combination of non-None inputs; inputs it rejects are dropped
    (the evaluator rejects those inputs too, so no valid input reaches them)."""
    out = set()
    has_none = any(None in s for s in arg_sets)
    pools = [[v for v in s if v is not None] for s in arg_sets]
    if _product_size(pools) > MAX_VALUES * 50:
        return None
    for args in itertools.product(*pools):
        try:
            out.add(fn(*args))
        except Exception:
            continue
        if len(out) > MAX_VALUES:
            return None
    if has_none:
        out.add(None)
    return merge_close(out)


CLOSE = 1e-9
"""Numbers closer than this (relative to max(1, |v|)) are one value: float rounding
(e.g. ``1/3 - 1/6`` against ``1/6``) must not split a value into two."""


def merge_close(values: set) -> frozenset:
    """``values`` with floats that differ only by rounding merged into one.

    A run of numbers within rounding of each other keeps its ints (``-1`` against
    ``-0.9999999999999999``), or else a whole float, or else its smallest float; ints
    are never dropped.  (A set holding ``5.0`` holds ``5`` too: they are equal.)
    """
    numbers = sorted(v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool))
    if len(numbers) < 2:
        return frozenset(values)
    runs: list[list] = []
    for v in numbers:
        if runs and v - runs[-1][0] <= CLOSE * max(1.0, abs(v)):
            runs[-1].append(v)
        else:
            runs.append([v])
    drop = set()
    for run in runs:
        floats = [v for v in run if isinstance(v, float)]
        if len(floats) < len(run):
            drop.update(floats)
        else:  # keep a whole float (5.0 against 4.999999999999999) if there is one
            keep = next((v for v in floats if v.is_integer()), floats[0])
            drop.update(v for v in floats if v != keep)
    return frozenset(v for v in values if not (isinstance(v, float) and v in drop))


def representative(value: Any, values: frozenset | None) -> Any:
    """The member of ``values`` that stands for ``value``: the value itself, or the number
    that :func:`merge_close` kept in its place.  Blocks encode through this, so a
    rounding twin (``-1 - 2/3`` against ``0 - 5/3``) is written to the node's own
    direction, not to a stray one that decodes as None."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if values is None or not number or value in values:
        return value
    tol = CLOSE * max(1.0, abs(value))
    close = [
        v
        for v in values
        if isinstance(v, (int, float)) and not isinstance(v, bool) and abs(v - value) <= tol
    ]
    return min(close, key=lambda v: abs(v - value)) if close else value


def _product_size(pools: list[list]) -> int:
    size = 1
    for pool in pools:
        size *= max(len(pool), 1)
    return size


def _tokens(expr: rasp.TokensType, inf: _Inference) -> ValueSet:
    return inf.vocab


def _indices(expr: rasp.IndicesType, inf: _Inference) -> ValueSet:
    return frozenset(range(inf.max_seq_len))


def _length(expr: rasp.LengthType, inf: _Inference) -> ValueSet:
    return frozenset(range(1, inf.max_seq_len + 1))


def _map(expr: rasp.Map, inf: _Inference) -> ValueSet:
    inner = inf.of(expr.inner)
    return None if inner is None else _apply_all(expr.f, [inner])


def _sequence_map(expr: rasp.SequenceMap, inf: _Inference) -> ValueSet:
    fst, snd = inf.of(expr.fst), inf.of(expr.snd)
    if fst is None or snd is None:
        return None
    return _apply_all(expr.f, [fst, snd])


def _linear_sequence_map(expr: rasp.LinearSequenceMap, inf: _Inference) -> ValueSet:
    """As a SequenceMap, except for ``a * mean_S(x) + b * mean_S(y)`` with both means over
    the same selector: that is ``mean_S(a * x + b * y)``, whose values are far fewer than
    all pairs (e.g. a bracket balance: fractions k/n, not differences of two fractions)."""
    fst, snd = expr.fst, expr.snd
    if _same_selector_means(fst, snd) and rasp.is_numerical(expr):
        xs, ys = inf.of(fst.sop), inf.of(snd.sop)
        if xs is not None and ys is not None:
            combined = _apply_all(expr.f, [xs, ys])
            numbers = [v for v in combined or () if _is_number(v)]
            if combined is not None and len(numbers) == len(combined):
                means = mean_values(numbers, inf.max_seq_len)
                if means is not None:
                    return merge_close(set(means) | {expr.f(0, 0)})
    return _sequence_map(expr, inf)


def _same_selector_means(a: rasp.SOp, b: rasp.SOp) -> bool:
    return (
        isinstance(a, rasp.Aggregate)
        and isinstance(b, rasp.Aggregate)
        and rasp.is_numerical(a)
        and rasp.is_numerical(b)
        and _same_selection(a.selector, b.selector)
        and a.default == 0
        and b.default == 0
    )


def _same_selection(a: rasp.Selector, b: rasp.Selector) -> bool:
    """Whether two selectors surely select the same keys (the same expression, or the same
    predicate over the same key and query SOps, combined the same way)."""
    if a.label == b.label:
        return True
    if type(a) is not type(b):
        return False
    if isinstance(a, rasp.Select):
        return (
            a.keys.label == b.keys.label
            and a.queries.label == b.queries.label
            and a.predicate is b.predicate
        )
    return len(a.children) == len(b.children) and all(
        _same_selection(x, y) for x, y in zip(a.children, b.children)
    )


def _full(expr: rasp.Full, inf: _Inference) -> ValueSet:
    return frozenset([expr.fill])


def _constant_sop(expr: rasp.ConstantSOp, inf: _Inference) -> ValueSet:
    return frozenset(expr.value[: inf.max_seq_len])


def _selector_width(expr: rasp.SelectorWidth, inf: _Inference) -> ValueSet:
    return frozenset(range(inf.max_seq_len + 1))


def _aggregate(expr: rasp.Aggregate, inf: _Inference) -> ValueSet:
    inner = inf.of(expr.sop)
    if inner is None:
        return None
    if rasp.is_categorical(expr):
        return inner | {expr.default}
    numbers = [v for v in inner if _is_number(v)]
    if len(numbers) != len(inner):
        return None  # validation explains: a mean needs numbers
    means = mean_values(numbers, inf.max_seq_len)
    # the inputs are floats already, so exact means of them can be rounding twins
    return None if means is None else merge_close(set(means) | {expr.default})


def _is_number(value: Any) -> bool:
    return isinstance(value, (bool, int, float))


def mean_values(values: list, max_count: int) -> frozenset | None:
    """Every mean of 1..max_count values drawn (with repetition) from ``values``."""
    distinct = sorted({Fraction(v) for v in values})
    if not distinct:
        return frozenset()
    if set(distinct) <= {Fraction(0), Fraction(1)}:
        lo, hi = int(min(distinct)), int(max(distinct))
        fracs = {Fraction(k, n) for n in range(1, max_count + 1) for k in range(lo * n, hi * n + 1)}
        return frozenset(_plain(f) for f in fracs)
    means: set[Fraction] = set()
    sums: set[Fraction] = {Fraction(0)}
    for n in range(1, max_count + 1):
        sums = {s + v for s in sums for v in distinct}
        means.update(s / n for s in sums)
        if len(sums) * len(distinct) > MAX_VALUES * 10 or len(means) > MAX_VALUES:
            return None
    return frozenset(_plain(m) for m in means)


def _plain(f: Fraction) -> int | float:
    return int(f) if f.denominator == 1 else float(f)


def _none(expr: rasp.RASPExpr, inf: _Inference) -> ValueSet:
    return None  # selectors have no value set


_RULES: dict[type, Callable[[Any, _Inference], ValueSet]] = {
    rasp.TokensType: _tokens,
    rasp.IndicesType: _indices,
    rasp.LengthType: _length,
    rasp.Map: _map,
    rasp.SequenceMap: _sequence_map,
    rasp.LinearSequenceMap: _linear_sequence_map,
    rasp.Full: _full,
    rasp.ConstantSOp: _constant_sop,
    rasp.SelectorWidth: _selector_width,
    rasp.Aggregate: _aggregate,
}


def infer_value_sets(graph: ProgramGraph, vocab: frozenset, max_seq_len: int) -> ValueSets:
    """The value set of every SOp in ``graph`` (selectors map to None)."""
    inf = _Inference(vocab, max_seq_len)
    for label in graph.order:
        expr = graph.expr(label)
        inf.sets[label] = _RULES.get(type(expr), _none)(expr, inf)
    return inf.sets
