"""Pass 2: the finite set of values every SOp can take.

From the vocabulary and ``max_seq_len``, each rule over-approximates the values
a node can hold on any valid input: a Map applies its function to each input
value, a SequenceMap to each pair, a numerical mean takes every reachable
average.  ``None`` in a set means "may be None" (categorical nodes hold None
as the all-zero vector).  A set is ``None`` when it is too large to list; the
validation pass refuses only the nodes that need it listed.

A set holds each value once, so ``1``, ``1.0`` and ``True`` (equal in Python) are one
member, and so are floats that differ only by rounding: the model holds them in one
residual direction.  The evaluator keeps them apart, so a function that tells them
apart (``str``, ``type``, a threshold between rounding twins) cannot be compiled
faithfully.  The pass records which values each listed one stands for (its *twins*),
runs every function on the twins too, and records a :class:`Clash` where the results
differ; validation refuses those nodes.

Functions are partial in practice (``10 // (x - 1)`` at 1, a key that is out of
range).  The pass records every inferred input on which a function raises, or
returns what no residual direction can hold (an unhashable list, a value not
equal to itself such as ``nan``), as a :class:`Failure`; validation refuses
them by name unless the user opted in with ``partial=True`` (raising inputs
then read as None, with a warning).  Nothing is swallowed silently.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import rasp
from compiler.coverage import Coverage, selection_coverage
from compiler.graph import ProgramGraph
from rasp.expr import Zip, rule_for
from rasp.values import argument_pools, is_finite_number, is_number, mean_values

__all__ = [
    "MAX_VALUES",
    "Clash",
    "Failure",
    "ValueInference",
    "ValueSets",
    "infer_values",
    "representative",
]

ValueSet = frozenset | None
ValueSets = dict[str, ValueSet]
Twins = dict[Any, tuple]
"""For one node: each listed value that stands for several values the evaluator tells
apart (``1``, ``1.0`` and ``True``; floats within rounding), mapped to all of them."""
MAX_VALUES = 20_000
"""Largest value set listed for a categorical node (one direction per value); beyond
it a set is unknown (None)."""
MAX_NUMERICAL = 400_000
"""Largest value set listed for a numerical node: it needs one direction whatever its
size, and an MLP reading it has units only where its function steps, so e.g. a
threshold on a mean of three values at ``max_seq_len`` 128 can be compiled."""


@dataclass(frozen=True)
class Clash:
    """A function that gives different results on twins: inputs one residual direction
    holds (``args_a`` and ``args_b`` are equal value by value) but that it tells apart."""

    args_a: tuple
    out_a: Any
    args_b: tuple
    out_b: Any


@dataclass(frozen=True)
class Failure:
    """Inputs on which a node's function fails: ``count`` of them, the first few in
    ``examples`` as (arguments, what happened).  ``raised`` is True when the function
    raised (the evaluator rejects such inputs), False when it returned a value no
    direction can hold (unhashable, or not equal to itself)."""

    raised: bool
    count: int
    examples: tuple[tuple[tuple, str], ...]


INFERENCE_SECONDS = 60.0
"""Wall-clock budget of value inference for a whole program: past it, the node being
listed is refused by name (with its set sizes) instead of running for minutes."""
MAX_EXAMPLES = 3
"""Failing inputs shown per node in an error or warning."""


@dataclass(frozen=True)
class ValueInference:
    """What pass 2 found: each SOp's value set, each node's twins, the functions
    (Maps, SequenceMaps, Select predicates) that tell twins apart, and the inputs on
    which functions fail."""

    sets: ValueSets
    twins: dict[str, Twins] = field(default_factory=dict)
    clashes: dict[str, Clash] = field(default_factory=dict)
    raises: dict[str, Failure] = field(default_factory=dict)
    unencodable: dict[str, Failure] = field(default_factory=dict)
    nonempty: frozenset[str] = frozenset()  # selectors proved to select a key everywhere
    over_budget: dict[str, str] = field(default_factory=dict)  # label -> what ran too long


class _Inference:
    def __init__(self, vocab: frozenset, max_seq_len: int, causal: bool = False):
        self.vocab = vocab
        self.max_seq_len = max_seq_len
        self.causal = causal
        self.coverage: dict[str, Coverage] = {}
        self.sets: ValueSets = {}
        self.twins: dict[str, Twins] = {}
        self.clashes: dict[str, Clash] = {}
        self.failures: dict[tuple[str, bool], Failure] = {}
        self.deadline = time.monotonic() + INFERENCE_SECONDS
        self.over_budget: dict[str, str] = {}

    def out_of_time(self, expr: rasp.RASPExpr, sizes: list[int]) -> bool:
        """Whether value inference has run past its budget; records where it stopped."""
        if time.monotonic() <= self.deadline:
            return False
        shown = " x ".join(f"{n:,}" for n in sizes)
        self.over_budget[expr.label] = (
            f"listing its values (its function over {shown} input values) ran past the "
            f"{INFERENCE_SECONDS:g} s budget of value inference; shrink its inputs' value sets "
            "(vocabulary, max_seq_len, or round them with a Map) or make its function faster"
        )
        return True

    def fail(self, label: str, raised: bool, args: tuple, what: str) -> None:
        """Record that the function of ``label`` fails on ``args``."""
        old = self.failures.get((label, raised), Failure(raised, 0, ()))
        examples = old.examples
        if len(examples) < MAX_EXAMPLES:
            examples = (*examples, (args, what))
        self.failures[(label, raised)] = Failure(raised, old.count + 1, examples)

    def of(self, expr: rasp.RASPExpr) -> ValueSet:
        return self.sets[expr.label]

    def covers(self, selector: rasp.Selector) -> Coverage:
        """What is proved about ``selector`` selecting something (computed once)."""
        if selector.label not in self.coverage:
            token = min(self.vocab, key=repr)
            self.coverage[selector.label] = selection_coverage(
                selector, self.of, self.max_seq_len, self.causal, token
            )
        return self.coverage[selector.label]

    def variants(self, expr: rasp.RASPExpr, value: Any) -> tuple:
        """Every value the evaluator may hold where the model holds ``value``."""
        return self.twins.get(expr.label, {}).get(value, (value,))

    def settle(self, label: str, raw: Iterable, shown: Iterable = ()) -> ValueSet:
        """The value set of ``raw`` values (twins merged), recording the twins.

        A value in ``shown`` stands for its twins in the set (a mean's ``1`` for the
        evaluator's ``True`` and ``1.0``) without being one the node can hold."""
        raw = sorted(raw, key=_preference)  # stable: ints stand for their twins
        values = merge_close(set([*shown, *raw]))
        kept = {v: v for v in values}
        groups: dict[Any, dict] = {}
        for v in raw:
            rep = kept[v] if v in kept else representative(v, values)
            groups.setdefault(rep, {})[_typed(v)] = v
        twins = {rep: tuple(g.values()) for rep, g in groups.items() if len(g) > 1}
        if twins:
            self.twins[label] = twins
        return values


def _preference(value: Any) -> int:
    """Which twin a value set keeps: an int over a float, a float over a bool."""
    if isinstance(value, bool):
        return 2
    return 1 if isinstance(value, float) else 0


def _typed(value: Any) -> Any:
    """A key that tells ``1``, ``1.0`` and ``True`` apart, inside tuples too."""
    if isinstance(value, tuple):
        return (tuple, tuple(_typed(v) for v in value))
    return (type(value), value)


def _same(a: Any, b: Any) -> bool:
    """Whether the model may hold ``a`` and ``b`` in one place: equal values (``1`` and
    ``True`` are), numbers within rounding, or tuples of such."""
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if is_finite_number(a) and is_finite_number(b):
        return abs(a - b) <= CLOSE * max(1.0, abs(a))
    try:
        return bool(a == b)
    except Exception:
        return False


def _apply_all(
    expr: rasp.RASPExpr, fn: Callable[..., Any], inputs: list, inf: _Inference
) -> ValueSet:
    """``fn`` over every combination of non-None input values; inputs it rejects are
    dropped (the evaluator rejects those inputs too, so no valid input reaches them).

    Where an input value stands for twins, ``fn`` runs on each twin as well: the results
    must agree (else the clash is recorded for validation), and become twins in turn."""
    found = argument_pools([inf.of(sop) for sop in inputs])
    if found is None:
        return None
    pools, may_be_none = found
    if _product_size(pools) > MAX_VALUES * 50:
        return None
    raw: dict[Any, Any] = {}
    for step, args in enumerate(itertools.product(*pools)):
        if step % 1024 == 0 and inf.out_of_time(expr, [len(p) for p in pools]):
            return None
        outs = _outputs(fn, [inf.variants(sop, a) for sop, a in zip(inputs, args)], inf, expr)
        if len(outs) > 1:
            _check_agree(expr.label, outs, inf)
        for out_args, out in outs:
            if not _encodable(out):
                inf.fail(expr.label, False, out_args, f"returned {out!r}")
                continue
            raw[_typed(out)] = out
        if len(raw) > 2 * _limit(expr):
            return None
    if may_be_none:
        raw[_typed(None)] = None
    values = inf.settle(expr.label, raw.values())
    return None if len(values) > _limit(expr) else values


def _limit(expr: rasp.RASPExpr) -> int:
    return MAX_NUMERICAL if rasp.is_numerical(expr) else MAX_VALUES


def _outputs(
    fn: Callable[..., Any], variant_lists: list[tuple], inf: _Inference, expr: rasp.RASPExpr
) -> list[tuple[tuple, Any]]:
    """``fn`` on every combination of variants; inputs on which it raises are recorded."""
    outs = []
    for args in itertools.product(*variant_lists):
        try:
            outs.append((args, fn(*args)))
        except Exception as exc:
            inf.fail(expr.label, True, args, f"raised {type(exc).__name__}({exc})")
    return outs


def _encodable(value: Any) -> bool:
    """Whether a residual direction can stand for ``value``: it is hashable and equal
    to itself (``nan`` is not, so no lookup could ever find it)."""
    try:
        hash(value)
        return bool(value == value)
    except Exception:
        return False


def _check_agree(label: str, outs: list[tuple[tuple, Any]], inf: _Inference) -> None:
    if label in inf.clashes:
        return
    args_a, out_a = outs[0]
    for args_b, out_b in outs[1:]:
        if not _same(out_a, out_b):
            inf.clashes[label] = Clash(args_a, out_a, args_b, out_b)
            return


CLOSE = 4 * 2.0**-52
"""Numbers closer than this (relative to max(1, |v|)), a few units in the last place of
a float64, are one value: float rounding (e.g. ``1/3 - 1/6`` against ``1/6``) must not
split a value into two, but genuinely distinct floats (a tie-break ``x + i * 1e-14``)
stay distinct."""


def merge_close(values: set) -> frozenset:
    """``values`` with floats that differ only by rounding merged into one.

    A run of numbers within rounding of each other keeps its ints (``-1`` against
    ``-0.9999999999999999``), or else a whole float, or else its smallest float; ints
    are never dropped.  (A set holding ``5.0`` holds ``5`` too: they are equal.)
    """
    numbers = sorted(
        v
        for v in values
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    )
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
    direction, not to a stray one that decodes as None.  Logarithmic in the set size."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if values is None or not number or value in values or not math.isfinite(value):
        return value
    numbers = _sorted_numbers(values)
    tol = CLOSE * max(1.0, abs(value))
    at = bisect.bisect_left(numbers, value)
    close = [v for v in numbers[max(0, at - 1) : at + 1] if abs(v - value) <= tol]
    return min(close, key=lambda v: abs(v - value)) if close else value


@functools.lru_cache(maxsize=64)
def _sorted_numbers(values: frozenset) -> tuple:
    """The finite plain numbers of a value set, sorted (cached: sets are immutable)."""
    return tuple(
        sorted(
            v
            for v in values
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        )
    )


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
    return _apply_all(expr, expr.f, [expr.inner], inf)


def _sequence_map(expr: rasp.SequenceMap, inf: _Inference) -> ValueSet:
    return _apply_all(expr, expr.f, [expr.fst, expr.snd], inf)


def _linear_sequence_map(expr: rasp.LinearSequenceMap, inf: _Inference) -> ValueSet:
    """As a SequenceMap, except for ``a * mean_S(x) + b * mean_S(y)`` with both means over
    the same selector: that is ``mean_S(a * x + b * y)``, whose values are far fewer than
    all pairs (e.g. a bracket balance: fractions k/n, not differences of two fractions)."""
    fst, snd = expr.fst, expr.snd
    if _same_selector_means(fst, snd) and rasp.is_numerical(expr):
        xs, ys = inf.of(fst.sop), inf.of(snd.sop)
        if xs is not None and ys is not None and _product_size([xs, ys]) <= MAX_VALUES * 50:
            try:
                combined = {expr.f(x, y) for x in xs for y in ys if x is not None and y is not None}
            except TypeError:
                combined = {None}  # non-numeric inputs: validation refuses them
            if all(is_number(v) for v in combined):
                means = mean_values(list(combined), inf.max_seq_len, MAX_VALUES)
                if means is not None:
                    # a sum of a whole mean and another may be an int or a float
                    floats = [float(m) for m in means]
                    return inf.settle(expr.label, [*means, *floats, expr.f(0, 0)])
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
    return inf.settle(expr.label, expr.value[: inf.max_seq_len])


def _selector_width(expr: rasp.SelectorWidth, inf: _Inference) -> ValueSet:
    cover = inf.covers(expr.selector)
    if cover.widths is not None:
        return cover.widths
    return frozenset(range(1 if cover.nonempty else 0, inf.max_seq_len + 1))


def _aggregate(expr: rasp.Aggregate, inf: _Inference) -> ValueSet:
    inner = inf.of(expr.sop)
    if inner is None:
        return None
    held = [v for value in inner for v in inf.variants(expr.sop, value)]
    default = [] if inf.covers(expr.selector).nonempty else [expr.default]
    if rasp.is_categorical(expr):
        return inf.settle(expr.label, [*held, *default])
    numbers = [v for v in inner if is_number(v)]
    if len(numbers) != len(inner):
        return None  # validation explains: a mean needs numbers
    means = mean_values(numbers, inf.max_seq_len, MAX_NUMERICAL)
    if means is None:
        return None
    # One selected key gives its own value (an int, a bool); several give a float.  The
    # inputs are floats already, so exact means of them can be rounding twins too.
    several = [float(m) for m in means] if inf.max_seq_len > 1 else []
    return inf.settle(expr.label, [*held, *several, *default], shown=means)


def _zip(expr: Zip, inf: _Inference) -> ValueSet:
    """Every tuple of the parts' values, None components included (each twin too)."""
    sets = [inf.of(part) for part in expr.parts]
    if any(s is None for s in sets) or _product_size([list(s) for s in sets]) > MAX_VALUES:
        return None
    pools = [[v for value in s for v in inf.variants(p, value)] for s, p in zip(sets, expr.parts)]
    return inf.settle(expr.label, itertools.product(*pools))


def _select(expr: rasp.Select, inf: _Inference) -> ValueSet:
    """Selectors have no value set, but a predicate must not tell twins apart, and the
    pairs on which it raises are recorded (the evaluator rejects inputs holding them)."""
    keys, queries = inf.of(expr.keys), inf.of(expr.queries)
    if keys is None or queries is None or len(keys) * len(queries) > MAX_VALUES * 50:
        return None
    predicate = expr.predicate
    for k, q in itertools.product(keys, queries):
        if k is None or q is None:
            continue
        variants = [inf.variants(expr.keys, k), inf.variants(expr.queries, q)]
        outs = _outputs(lambda a, b: bool(predicate(a, b)), variants, inf, expr)
        if len(outs) > 1 and expr.label not in inf.clashes:
            _check_agree(expr.label, outs, inf)
    return None


def _no_value_set(expr: rasp.RASPExpr, inf: _Inference) -> ValueSet:
    return None  # selectors have no value set


RULES: Mapping[type, Callable[[Any, _Inference], ValueSet]] = {
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
    rasp.Select: _select,
    rasp.ConstantSelector: _no_value_set,
    rasp.SelectorAnd: _no_value_set,
    rasp.SelectorOr: _no_value_set,
    rasp.SelectorNot: _no_value_set,
    Zip: _zip,
}
"""One value-set rule per node type (selectors: None, after Select's predicate checks)."""


def infer_values(
    graph: ProgramGraph, vocab: frozenset, max_seq_len: int, causal: bool = False
) -> ValueInference:
    """Value sets, twins and clashes of every node in ``graph`` (selectors' sets are None),
    for the model compiled with ``causal`` masking or without."""
    inf = _Inference(vocab, max_seq_len, causal)
    for label in graph.order:
        expr = graph.expr(label)
        inf.sets[label] = rule_for(RULES, expr, "value-inference")(expr, inf)
    failures = inf.failures.items()
    return ValueInference(
        inf.sets,
        inf.twins,
        inf.clashes,
        raises={label: f for (label, raised), f in failures if raised},
        unencodable={label: f for (label, raised), f in failures if not raised},
        nonempty=frozenset(label for label, c in inf.coverage.items() if c.nonempty),
        over_budget=dict(inf.over_budget),
    )
