"""The reference evaluator: what a RASP program means.

One function per expression type, looked up in a table keyed by type.  Nodes
are evaluated once each, in dependency order, without recursion.  Selectors
are numpy boolean matrices ``[T_query, T_key]``; functions and predicates are
called once per distinct value (or pair), so a 1,000-token input is cheap.

Semantics beyond Tracr's, chosen so that compiled models can match them:

* ``None`` flows: a Map or SequenceMap of ``None`` is ``None``, and a Select
  never selects a key or query whose value is ``None``.
* A categorical Aggregate must find one shared value among the selected keys;
  combining different values is an :class:`EvaluationError`, not a silent mean.
* ``causal=True`` is masked evaluation, what a causal model computes: every
  selector, at every node, is masked to keys ``<= query``, and ``length`` is
  ``i + 1`` at position ``i``.  Masking applies to the intermediates too, so
  the output at ``i`` is *not* in general the non-causal output of the prefix
  ending at ``i``: it is only when no intermediate looks ahead.  With
  ``w = SelectorWidth(Select(tokens, tokens, TRUE))`` and then
  ``SelectorWidth(Select(w, w, EQ))`` on ``["e", "e"]``, ``w`` is ``[1, 2]``
  masked, so the output is ``[1, 1]``, while the prefixes ``["e"]`` and
  ``["e", "e"]`` give ``[1]`` and ``[2, 2]``, i.e. ``[1, 2]``.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from rasp import expr as E
from rasp.errors import EvaluationError, RaspcTypeError, RaspcValueError
from rasp.walk import assign_labels, postorder

__all__ = ["RULES", "DefaultRASPEvaluator", "RASPEvaluator", "evaluate", "evaluate_all"]

Value = Any
Result = list[Value] | np.ndarray  # SOp values, or a bool selector matrix [Tq, Tk]


class _Context:
    """The input being evaluated and the values computed so far."""

    def __init__(self, xs: Sequence[Value], causal: bool):
        self.xs = list(xs)
        self.n = len(self.xs)
        self.causal = causal
        self.values: dict[int, Result] = {}

    def of(self, expr: E.RASPExpr) -> Result:
        return self.values[expr.unique_id]

    def mask(self, sel: np.ndarray) -> np.ndarray:
        return np.tril(sel) if self.causal else sel


def _key(value: Value) -> Any:
    """A cache key that keeps 1, 1.0 and True apart (functions may tell them apart)."""
    return (type(value), value)


def _apply(label: str, fn: Callable[..., Value], args: tuple[Value, ...], cache: dict) -> Value:
    if any(a is None for a in args):
        return None
    try:
        key = tuple(_key(a) for a in args)
        hash(key)
    except TypeError:
        key = None
    if key is not None and key in cache:
        return cache[key]
    try:
        out = fn(*args)
    except Exception as exc:  # the user's function failed: say where and on what
        shown = args[0] if len(args) == 1 else args
        raise EvaluationError(
            f"{label}: the function raised {type(exc).__name__}({exc}) on value {shown!r}; "
            "make it handle every value its input can take"
        ) from exc
    if key is not None:
        cache[key] = out
    return out


def _tokens(expr: E.TokensType, ctx: _Context) -> Result:
    return list(ctx.xs)


def _indices(expr: E.IndicesType, ctx: _Context) -> Result:
    return list(range(ctx.n))


def _length(expr: E.LengthType, ctx: _Context) -> Result:
    return [i + 1 for i in range(ctx.n)] if ctx.causal else [ctx.n] * ctx.n


def _map(expr: E.Map, ctx: _Context) -> Result:
    cache: dict = {}
    return [_apply(expr.label, expr.f, (x,), cache) for x in ctx.of(expr.inner)]


def _sequence_map(expr: E.SequenceMap, ctx: _Context) -> Result:
    cache: dict = {}
    pairs = zip(ctx.of(expr.fst), ctx.of(expr.snd))
    return [_apply(expr.label, expr.f, (x, y), cache) for x, y in pairs]


def _full(expr: E.Full, ctx: _Context) -> Result:
    return [expr.fill] * ctx.n


def _constant_sop(expr: E.ConstantSOp, ctx: _Context) -> Result:
    if expr.check_length and len(expr.value) != ctx.n:
        raise EvaluationError(
            f"{expr.label}: the constant has {len(expr.value)} values but the input has "
            f"{ctx.n} tokens; pass an input of that length or check_length=False"
        )
    if len(expr.value) < ctx.n:
        raise EvaluationError(
            f"{expr.label}: the constant has only {len(expr.value)} values for an input of "
            f"{ctx.n} tokens"
        )
    return list(expr.value[: ctx.n])


def _select(expr: E.Select, ctx: _Context) -> Result:
    keys, queries = ctx.of(expr.keys), ctx.of(expr.queries)
    key_codes, key_values = _codes(keys)
    query_codes, query_values = _codes(queries)
    table = np.zeros((len(query_values), len(key_values)), dtype=bool)
    for qi, q in enumerate(query_values):
        for ki, k in enumerate(key_values):
            if k is None or q is None:
                continue
            try:
                table[qi, ki] = bool(expr.predicate(k, q))
            except Exception as exc:
                raise EvaluationError(
                    f"{expr.label}: the predicate raised {type(exc).__name__}({exc}) on "
                    f"key {k!r}, query {q!r}; make it handle every key and query value"
                ) from exc
    return ctx.mask(table[np.ix_(query_codes, key_codes)])


def _codes(values: Sequence[Value]) -> tuple[np.ndarray, list[Value]]:
    """Integer codes for values (equal values, same code) and the distinct values."""
    index: dict[Any, int] = {}
    distinct: list[Value] = []
    codes = np.empty(len(values), dtype=np.int64)
    for i, v in enumerate(values):
        try:
            k = _key(v)
            code = index.get(k)
        except TypeError:  # unhashable: compare by equality
            k, code = None, next((j for j, d in enumerate(distinct) if d == v), None)
        if code is None:
            code = len(distinct)
            distinct.append(v)
            if k is not None:
                index[k] = code
        codes[i] = code
    return codes, distinct


def _constant_selector(expr: E.ConstantSelector, ctx: _Context) -> Result:
    value = np.array(expr.value, dtype=bool).reshape(len(expr.value), -1)
    if expr.check_length and value.shape != (ctx.n, ctx.n):
        raise EvaluationError(
            f"{expr.label}: the constant selector is {value.shape[0]}x{value.shape[1]} but the "
            f"input has {ctx.n} tokens"
        )
    return ctx.mask(value[: ctx.n, : ctx.n])


def _selector_and(expr: E.SelectorAnd, ctx: _Context) -> Result:
    return ctx.of(expr.fst) & ctx.of(expr.snd)


def _selector_or(expr: E.SelectorOr, ctx: _Context) -> Result:
    return ctx.of(expr.fst) | ctx.of(expr.snd)


def _selector_not(expr: E.SelectorNot, ctx: _Context) -> Result:
    return ctx.mask(~ctx.of(expr.inner))


def _selector_width(expr: E.SelectorWidth, ctx: _Context) -> Result:
    return [int(w) for w in ctx.of(expr.selector).sum(axis=1)]


def _aggregate(expr: E.Aggregate, ctx: _Context) -> Result:
    sel = ctx.of(expr.selector)
    values = ctx.of(expr.sop)
    if E.is_numerical(expr):
        return _mean_aggregate(expr, sel, values)
    return _single_aggregate(expr, sel, values)


def _mean_aggregate(expr: E.Aggregate, sel: np.ndarray, values: list[Value]) -> Result:
    bad = np.array(
        [not isinstance(v, (bool, int, float, np.number)) for v in values], dtype=bool
    ).reshape(len(values))
    out: list[Value] = []
    counts = sel.sum(axis=1)
    sums, scale = _exact_sums(sel, [0 if b else v for v, b in zip(values, bad)])
    for q in range(sel.shape[0]):
        if counts[q] == 0:
            out.append(expr.default)
            continue
        if np.any(bad & sel[q]):
            found = values[int(np.argmax(bad & sel[q]))]
            raise EvaluationError(
                f"{expr.label}: a numerical Aggregate averages numbers, but position {q} "
                f"selects the value {found!r}; aggregate a numeric SOp"
            )
        if counts[q] == 1:
            out.append(values[int(np.argmax(sel[q]))])
        elif scale is None:  # inf or nan among the values: float arithmetic says what
            out.append(float(sums[q] / counts[q]))
        else:  # int / int is correctly rounded: the exact mean, rounded once
            out.append(int(sums[q]) / (int(counts[q]) * scale))
    return out


def _exact_sums(sel: np.ndarray, numbers: list[Any]) -> tuple[np.ndarray, int | None]:
    """Per query, the exact sum of the selected ``numbers`` as an integer count of
    ``1 / scale`` (every float is an integer over a power of two), so that a mean is
    the exact fraction of the selected values, rounded to float once, as the compiler's
    value inference lists it (summing floats instead rounds at every addition: the mean
    of three 0.2s would be 0.20000000000000004).  ``scale`` is None, and the sums are
    floats, when a value is not finite."""
    ratios: list[tuple[int, int]] = []
    for v in numbers:
        if isinstance(v, (bool, int, np.integer)):
            ratios.append((int(v), 1))
        elif not np.isfinite(v):
            return sel.astype(np.float64) @ np.array(numbers, dtype=np.float64), None
        else:
            ratios.append(float(v).as_integer_ratio())
    scale = max((den for _, den in ratios), default=1)
    scaled = [num * (scale // den) for num, den in ratios]
    biggest = max((abs(n) for n in scaled), default=0)
    if biggest * max(len(scaled), 1) < 2**62:  # int64 cannot overflow: vectorised
        return sel.astype(np.int64) @ np.array(scaled, dtype=np.int64), scale
    return sel.astype(np.int64).astype(object) @ np.array(scaled, dtype=object), scale


def _single_aggregate(expr: E.Aggregate, sel: np.ndarray, values: list[Value]) -> Result:
    codes, distinct = _codes(values)
    big = np.iinfo(np.int64).max
    lo = np.where(sel, codes[None, :], big).min(axis=1) if len(values) else np.array([])
    hi = np.where(sel, codes[None, :], -1).max(axis=1) if len(values) else np.array([])
    out: list[Value] = []
    for q in range(sel.shape[0]):
        if hi[q] < 0:
            out.append(expr.default)
        elif lo[q] != hi[q]:
            raise EvaluationError(
                f"{expr.label}: a categorical Aggregate needs the selected keys to share one "
                f"value, but position {q} selects {distinct[lo[q]]!r} and {distinct[hi[q]]!r}; "
                "select one key per query, or use rasp.numerical(Aggregate(...)) for a mean"
            )
        else:
            out.append(distinct[lo[q]])
    return out


def _zip(expr: E.Zip, ctx: _Context) -> Result:
    """The compiler's pairs: the tuple of the parts' values, None components kept."""
    return [tuple(values) for values in zip(*(ctx.of(part) for part in expr.parts))]


RULES: Mapping[type, Callable[[Any, _Context], Result]] = {
    E.TokensType: _tokens,
    E.IndicesType: _indices,
    E.LengthType: _length,
    E.Map: _map,
    E.SequenceMap: _sequence_map,
    E.LinearSequenceMap: _sequence_map,
    E.Full: _full,
    E.ConstantSOp: _constant_sop,
    E.Select: _select,
    E.ConstantSelector: _constant_selector,
    E.SelectorAnd: _selector_and,
    E.SelectorOr: _selector_or,
    E.SelectorNot: _selector_not,
    E.SelectorWidth: _selector_width,
    E.Aggregate: _aggregate,
    E.Zip: _zip,
}
"""One evaluation rule per node type (compiler-internal ones too, so a compiled graph
evaluates like a program)."""


def evaluate_all(
    program: E.RASPExpr,
    xs: Sequence[Value],
    *,
    causal: bool = False,
    interventions: Mapping[str, Sequence] | None = None,
) -> dict[str, Result]:
    """The value of every node of ``program`` on ``xs``, keyed by the node's label within
    the program (:func:`rasp.walk.assign_labels`: the labels the compiler, the circuit
    map and saved models use; a name given twice is ``name``, then ``name_2``, ...).
    An unnamed node's key is ``rasp.assign_labels(program)[node.unique_id]``, not its
    provisional ``node.label``.

    Selector values are boolean numpy matrices ``[T_query, T_key]``.  ``interventions``
    overrides nodes as in :func:`evaluate`.
    """
    ctx = _run(program, xs, causal, interventions)
    labels = assign_labels(program)
    return {labels[e.unique_id]: ctx.values[e.unique_id] for e in postorder(program)}


def evaluate(
    program: E.RASPExpr,
    xs: Sequence[Value],
    *,
    causal: bool = False,
    interventions: Mapping[str, Sequence] | None = None,
) -> Result:
    """The value of ``program`` on the input ``xs``.

    An SOp gives a list with one value per position; a selector gives a list of
    rows of booleans, ``sel[q][k]``.

    ``interventions`` maps node labels (those of :func:`evaluate_all`) to values that
    replace the node's own, one per position (a selector: its ``[T_query, T_key]``
    rows); every node downstream is computed from the replaced values, which is what
    patching that node's residual directions does to a compiled model.

    >>> import rasp
    >>> rasp.evaluate(rasp.tokens + 1, [1, 2, 3], interventions={"tokens": [5, 5, 5]})
    [6, 6, 6]

    >>> import rasp
    >>> rasp.evaluate(rasp.tokens + 1, [1, 2, 3])
    [2, 3, 4]
    """
    ctx = _run(program, xs, causal, interventions)
    out = ctx.of(program)
    return out.tolist() if isinstance(out, np.ndarray) else out


def _run(
    program: E.RASPExpr,
    xs: Sequence[Value],
    causal: bool,
    interventions: Mapping[str, Sequence] | None = None,
) -> _Context:
    if not isinstance(program, E.RASPExpr):
        raise RaspcTypeError(f"evaluate: expected a RASP expression, found {program!r}")
    if isinstance(xs, (str, bytes)) or not isinstance(xs, Sequence):
        raise RaspcTypeError(
            f"evaluate: the input must be a list of tokens, found {type(xs).__name__} {xs!r}"
        )
    ctx = _Context(xs, causal)
    overrides = _overrides(program, len(ctx.xs), interventions)
    for node in postorder(program):
        fn = E.rule_for(RULES, node, "evaluation")
        value = overrides.get(node.unique_id)
        ctx.values[node.unique_id] = fn(node, ctx) if value is None else value
    return ctx


def _overrides(
    program: E.RASPExpr, n: int, interventions: Mapping[str, Sequence] | None
) -> dict[int, Result]:
    """``interventions`` keyed by node id, checked: known labels, one value per position."""
    if not interventions:
        return {}
    by_label = {label: uid for uid, label in assign_labels(program).items()}
    nodes = {e.unique_id: e for e in postorder(program)}
    out: dict[int, Result] = {}
    for label, values in interventions.items():
        if label not in by_label:
            raise RaspcValueError(
                f"interventions: no node {label!r} in {program.label!r}; its nodes are "
                f"{sorted(by_label)}"
            )
        uid = by_label[label]
        if isinstance(nodes[uid], E.Selector):
            value: Result = np.asarray(values, dtype=bool)
            ok = value.shape == (n, n)
        else:
            value = list(values)
            ok = len(value) == n
        if not ok:
            raise RaspcValueError(
                f"interventions: {label!r} needs one value per position of the {n}-token "
                f"input, found {np.shape(values)}"
            )
        out[uid] = value
    return out


class RASPEvaluator(abc.ABC):
    """Tracr's interface for evaluators: ``evaluate(expr, xs)``."""

    @abc.abstractmethod
    def evaluate(self, expr: E.RASPExpr, xs: Sequence[Value]) -> Any:
        """The value of ``expr`` on the input ``xs``."""


class DefaultRASPEvaluator(RASPEvaluator):
    """Tracr's default evaluator, here raspc's: ``DefaultRASPEvaluator().evaluate(p, xs)``
    is :func:`evaluate` (raspc's semantics, which its compiled models match; the
    module docstring lists where they go beyond Tracr's)."""

    def evaluate(self, expr: E.RASPExpr, xs: Sequence[Value]) -> Any:
        return evaluate(expr, xs)
