"""Pass 4: each node becomes weights over named directions.

* A Map or SequenceMap becomes an MLP.  Categorical inputs give lookup
  tables (one hidden unit per input value or pair).  A numerical input gives a
  staircase: a pair of ReLUs per gap between consecutive input values makes a
  step that is exactly 0 below the gap and 1 above it, so the output is exact
  on the inferred value set, with no accuracy knob.
* Select + Aggregate becomes one attention head.  Scores are bilinear in
  query and key directions: ``beta`` where the predicate holds, ``beta / 2``
  from every query to the BOS position, 0 elsewhere.  So a query attends to
  its selected keys, or only to BOS (whose value is zero) when none is
  selected, and the softmax is hard: see :data:`SOFTMAX_BETA`.
* SelectorWidth becomes a head that gives BOS the same score as a selected
  key and reads 1 from BOS, writing ``1 / (width + 1)``, then a staircase MLP
  that turns that into the width.
* ``length`` is SelectorWidth of an always-true selection.

No bias vectors are used: the ``one`` direction (1 at every token, 0 at BOS)
plays the bias, so every block writes exactly zero into program nodes at the
BOS position and BOS stays a clean attention sink through the whole model.
(The one exception is a SelectorWidth head's scratch direction, which reads 1
at BOS; its MLP is switched off there by a large negative weight on BOS.)
"""

from __future__ import annotations

import enum
import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np

import rasp
from compiler.basis import ONE, Direction, Role, internal, sorted_values
from compiler.graph import ProgramGraph
from compiler.pairing import Zip
from compiler.precision import CATEGORICAL_MARGIN, OUTPUT_TOLERANCE, worst_error
from compiler.selectors import Group, plan_selector
from compiler.values import ValueSets, representative
from rasp.errors import Problem, UnsupportedProgramError

__all__ = [
    "SOFTMAX_BETA",
    "MAX_TABLE",
    "Stage",
    "MLPBlock",
    "HeadBlock",
    "Block",
    "build_blocks",
    "node_directions",
    "bos_direction",
]

MAX_TABLE = 250_000
"""Largest MLP construction (hidden units) one node may have."""
SOFTMAX_BETA = 100.0
"""Attention logit scale.  A selected key scores ``beta``, BOS ``beta/2`` and an
unselected key 0, so every key that should get no weight trails the best key by
at least ``beta/2 = 50`` nats: its weight is below ``exp(-50) ~ 2e-22``, and
even summed over 10^4 positions it stays below 1e-17, far under float32's
resolution of the values it multiplies.  Logits stay below ~1e3 in magnitude,
so float32 softmax neither overflows nor loses the ordering."""


class Stage(enum.Enum):
    ATTN = "attn"
    MLP = "mlp"


def _frozen(matrix: np.ndarray) -> np.ndarray:
    matrix = np.asarray(matrix, dtype=np.float64)
    matrix.setflags(write=False)
    return matrix


@dataclass(frozen=True)
class MLPBlock:
    """``out = relu(x[in_dirs] @ w_in) @ w_out`` written to ``out_dirs``."""

    node: str
    in_dirs: tuple[Direction, ...]
    out_dirs: tuple[Direction, ...]
    w_in: np.ndarray = field(repr=False)  # [len(in_dirs), hidden]
    w_out: np.ndarray = field(repr=False)  # [hidden, len(out_dirs)]
    stage: Stage = Stage.MLP

    @property
    def hidden_size(self) -> int:
        return self.w_in.shape[1]


@dataclass(frozen=True)
class HeadBlock:
    """One attention head: logits ``x_q[q_dirs] @ w_qk @ x_k[k_dirs]``, values
    ``x[v_dirs] @ w_ov`` written to ``o_dirs``."""

    node: str
    q_dirs: tuple[Direction, ...]
    k_dirs: tuple[Direction, ...]
    w_qk: np.ndarray = field(repr=False)  # [len(q_dirs), len(k_dirs)]
    v_dirs: tuple[Direction, ...]
    o_dirs: tuple[Direction, ...]
    w_ov: np.ndarray = field(repr=False)  # [len(v_dirs), len(o_dirs)]
    stage: Stage = Stage.ATTN


Block = MLPBlock | HeadBlock
Weights = dict[Direction, float]


def bos_direction(compiler_bos: str) -> Direction:
    return Direction("tokens", compiler_bos, Role.BOS)


def node_directions(label: str, expr: rasp.SOp, values: frozenset) -> tuple[Direction, ...]:
    """The residual directions holding an SOp: one per value, or one holding the value."""
    if rasp.is_numerical(expr):
        return (Direction(label),)
    return tuple(Direction(label, v) for v in sorted_values(values) if v is not None)


def encode(label: str, expr: rasp.SOp, value: Any) -> Weights:
    """The residual vector (as sparse weights) that stores ``value`` for this SOp."""
    if value is None:
        return {}
    if rasp.is_numerical(expr):
        return {Direction(label): float(value)} if value != 0 else {}
    return {Direction(label, value): 1.0}


def _mlp(node: str, units: list[tuple[Weights, Weights]]) -> MLPBlock:
    """An MLP from hidden units, each ``(input weights, output weights)``; units that
    write nothing are dropped."""
    units = [(w_in, w_out) for w_in, w_out in units if any(v != 0 for v in w_out.values())]
    if not units:  # a node that is constant zero still needs a (trivial) block
        units = [({ONE: 0.0}, {})]
    in_dirs = _directions(d for w_in, _ in units for d in w_in)
    out_dirs = _directions(d for _, w_out in units for d in w_out)
    w_in = _matrix(in_dirs, [u[0] for u in units]).T
    w_out = _matrix(out_dirs, [u[1] for u in units])
    return MLPBlock(node, in_dirs, out_dirs, _frozen(w_in), _frozen(w_out))


def _directions(dirs: Iterable[Direction]) -> tuple[Direction, ...]:
    return tuple(dict.fromkeys(dirs))


def _matrix(dirs: tuple[Direction, ...], rows: list[Weights]) -> np.ndarray:
    index = {d: i for i, d in enumerate(dirs)}
    matrix = np.zeros((len(rows), len(dirs)))
    for r, weights in enumerate(rows):
        for d, w in weights.items():
            matrix[r, index[d]] += w
    return matrix


def _add(a: Weights, b: Weights, scale: float = 1.0) -> Weights:
    out = dict(a)
    for d, w in b.items():
        out[d] = out.get(d, 0.0) + scale * w
    return out


class _Builder:
    """Shared context for the per-type block rules."""

    def __init__(self, graph: ProgramGraph, values: ValueSets, bos: Direction, beta: float):
        self.graph = graph
        self.values = values
        self.bos = bos
        self.beta = beta
        self.current = ""  # the label of the node whose blocks are being built
        self.problems: list[Problem] = []  # what float32 cannot carry (by node label)

    def dirs(self, expr: rasp.SOp) -> tuple[Direction, ...]:
        return node_directions(expr.label, expr, self.values[expr.label])

    def fits(self, hidden: int, what: str) -> bool:
        """Whether a construction of ``hidden`` units may be built for the current node;
        the size rule lives here, with the constructions that know their real size."""
        if hidden <= MAX_TABLE:
            return True
        self.problems.append(
            (
                self.current,
                f"its {what} would need {hidden:,} hidden units (over {MAX_TABLE:,}); shrink "
                "the inputs' value sets (or round them with a Map)",
            )
        )
        return False

    def vals(self, expr: rasp.SOp) -> tuple[Any, ...]:
        return sorted_values(v for v in self.values[expr.label] if v is not None)

    def encode(self, expr: rasp.SOp, value: Any) -> Weights:
        """``value``'s weights, snapped to the member of the node's value set that stands
        for it (value sets merge floats that differ only by rounding)."""
        return encode(expr.label, expr, representative(value, self.values[expr.label]))

    def staircase(
        self,
        x: Direction | Weights,
        xs: tuple,
        outs: list[Weights],
        *,
        gate: Direction | None = None,
        kill: Direction | None = None,
    ) -> list[tuple[Weights, Weights]]:
        """Hidden units exact on the sorted inputs ``xs`` of direction ``x`` (or of the
        linear form ``x`` over several directions), writing ``outs[i]`` for ``xs[i]``.

        With ``gate``, the units write only where the (0/1) direction ``gate`` is 1;
        with ``kill``, they write nothing where ``kill`` is 1.  Both work by adding a
        push larger than any pre-activation the unit can reach.

        The base unit writes the output at a *pivot* input, the one with the smallest
        output; steps above it rise (exactly 0 below their gap) and steps below it
        fall (exactly 0 above), so at the pivot every step is exactly 0 and float32
        error grows only with the distance from it.  Where that error could still pass
        the output tolerance, the node is refused (see :mod:`compiler.precision`).
        """
        form: Weights = {x: 1.0} if isinstance(x, Direction) else x
        pivot = min(range(len(xs)), key=lambda i: max(map(abs, outs[i].values()), default=0.0))
        steps: list[tuple[float, float, Weights]] = [(0.0, 1.0, outs[pivot])]
        reach = 2.0
        for i in range(len(xs) - 1):
            gap = xs[i + 1] - xs[i]
            slope = 2.0 / gap  # the step is 0 at xs[i] and below, 1 at xs[i+1] and above
            mid = (xs[i] + xs[i + 1]) / 2.0
            delta = {d: w for d, w in _add(outs[i + 1], outs[i], -1.0).items() if w != 0}
            if not delta:
                continue  # the function does not step here: no units, no precision cost
            neg = {d: -w for d, w in delta.items()}
            if i >= pivot:  # rises: relu(a + 1/2) - relu(a - 1/2), a = slope * (x - mid)
                steps += [(slope, 0.5 - slope * mid, delta), (slope, -0.5 - slope * mid, neg)]
            else:  # falls: the same step as delta - (relu(1/2 - a) - relu(-1/2 - a))
                steps += [(-slope, 0.5 + slope * mid, neg), (-slope, -0.5 + slope * mid, delta)]
            span = max(abs(xs[0] - mid), abs(xs[-1] - mid), abs(mid))
            reach = max(reach, 2.0 * slope * span + 2.0)
        self._check_precision(steps, xs, outs, reach if gate is not None else 0.0)
        base: Weights = {ONE: 1.0} if gate is None else {gate: 1.0}
        units = [(base, outs[pivot])] + [
            (_add({d: coef * w for d, w in form.items()}, {ONE: bias}), out)
            for coef, bias, out in steps[1:]
        ]
        if gate is not None:
            units = [units[0]] + [
                (_add(w_in, {gate: reach, ONE: -reach}), w_out) for w_in, w_out in units[1:]
            ]
        if kill is not None:
            units = [({**w_in, kill: -reach}, w_out) for w_in, w_out in units]
        return units

    def _check_precision(
        self, steps: list[tuple[float, float, Weights]], xs: tuple, outs: list[Weights], push: float
    ) -> None:
        """Record a problem where float32 could carry a staircase's output off its value."""
        dirs = _directions(d for *_, out in steps for d in out)
        if not dirs:
            return
        coef, bias = (np.array([step[i] for step in steps]) for i in (0, 1))
        pushes = np.full(len(steps), push)
        pushes[0] = 0.0  # the base unit reads ``one`` or the gate alone
        error = worst_error(coef, bias, _matrix(dirs, [s[2] for s in steps]), xs, pushes)
        want = _matrix(dirs, outs)
        numeric = np.array([d.value is None for d in dirs])[None, :]
        scale = np.maximum(1.0, np.abs(want))
        budget = np.where(numeric, OUTPUT_TOLERANCE * scale, CATEGORICAL_MARGIN)
        over = np.argwhere(error > budget)
        if len(over):
            j, k = over[0]
            biggest = max((abs(w) for *_, out in steps[1:] for w in out.values()), default=0.0)
            self.problems.append(
                (
                    self.current,
                    f"float32 could carry its MLP off by {error[j, k]:.2g} at input "
                    f"{xs[j]!r}, where it must be within {budget[j, k]:.2g} of "
                    f"{want[j, k]:.6g}: its staircase adds steps as high as {biggest:.3g} over "
                    f"inputs up to {max(abs(float(v)) for v in xs):.3g} (slopes "
                    "2/gap); scale the values down (e.g. divide by 1000 first) or make the "
                    "input categorical",
                )
            )


def _map(expr: rasp.Map, b: _Builder) -> list[Block]:
    inner = expr.inner
    if rasp.is_numerical(inner):
        xs = b.vals(inner)
        outs = [_try(b, expr, expr.f, x) for x in xs]
        return [_mlp(expr.label, b.staircase(Direction(inner.label), xs, outs))]
    table = [(d, _try(b, expr, expr.f, d.value)) for d in b.dirs(inner)]
    target = Direction(expr.label) if rasp.is_numerical(expr) else None
    return [_mlp(expr.label, _lookup_units(table, target))]


def _lookup_units(
    table: list[tuple[Direction, Weights]], numerical: Direction | None
) -> list[tuple[Weights, Weights]]:
    """Hidden units for a lookup from a one-hot input (``table``: each input direction and
    the output weights it writes), sized by what the table needs, not by the input.

    A categorical output needs one unit per distinct output value, reading the sum of
    the inputs that map to it (exactly 0 or 1 on a one-hot input; Tracr's size).  A
    ``numerical`` output direction needs at most two units: ``relu(sum f(x) x)`` over
    the positive values and its mirror over the negative ones, since one input is hot
    at a time (Tracr's single unit loses the negative values)."""
    if numerical is not None:
        units = []
        for sign in (1.0, -1.0):
            w_in = {d: sign * w for d, out in table for w in out.values() if sign * w > 0}
            if w_in:
                units.append((w_in, {numerical: sign}))
        return units
    groups: dict[tuple, tuple[Weights, Weights]] = {}
    for d, out in table:
        key = tuple(sorted((str(o), w) for o, w in out.items()))
        w_in, _ = groups.setdefault(key, ({}, out))
        w_in[d] = 1.0
    return list(groups.values())


def _try(b: _Builder, expr: rasp.SOp, fn: Callable[..., Any], *args: Any) -> Weights:
    """The encoding of ``fn(*args)``, or nothing where ``fn`` rejects the input (the
    evaluator rejects such inputs too)."""
    try:
        return b.encode(expr, fn(*args))
    except Exception:
        return {}


def _sequence_map(expr: rasp.SequenceMap, b: _Builder) -> list[Block]:
    if isinstance(expr, rasp.LinearSequenceMap) and rasp.is_numerical(expr):
        return [_linear(expr, b)]
    fst, snd = expr.fst, expr.snd
    if rasp.is_numerical(fst) or rasp.is_numerical(snd):
        return _numerical_sequence_map(expr, b)
    if fst.label == snd.label:
        units = [({d: 1.0}, _try(b, expr, expr.f, d.value, d.value)) for d in b.dirs(fst)]
        return [_mlp(expr.label, units)]
    separable = _separable(expr, b)
    if separable is not None:
        return [separable]
    if not b.fits(len(b.dirs(fst)) * len(b.dirs(snd)), "lookup table"):
        return []
    units = [
        ({dx: 1.0, dy: 1.0, ONE: -1.0}, _try(b, expr, expr.f, dx.value, dy.value))
        for dx in b.dirs(fst)
        for dy in b.dirs(snd)
    ]
    return [_mlp(expr.label, units)]


def _separable(expr: rasp.SequenceMap, b: _Builder) -> MLPBlock | None:
    """``f(x, y) = g(x) + h(y)`` (numbers; e.g. ``length - indices - 1``) needs no table:
    the first layer computes ``s = sum g(a) x_a + sum h(c) y_c`` and a staircase over the
    distinct values of ``s`` writes ``f``.  Used when that is smaller than the table and
    neither input can be None (a None input would read as g or h of nothing)."""
    fst, snd = expr.fst, expr.snd
    if None in b.values[fst.label] or None in b.values[snd.label]:
        return None
    a_vals, c_vals = b.vals(fst), b.vals(snd)
    if not a_vals or not c_vals:  # an input with no possible value: nothing to sum
        return None
    try:
        table = [[expr.f(a, c) for c in c_vals] for a in a_vals]
    except Exception:  # some pairs are invalid: use the table
        return None
    flat = [v for row in table for v in row]
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in flat):
        return None
    t = np.asarray(table, dtype=np.float64)
    g, h = t[:, 0] - t[0, 0], t[0, :]
    if not np.allclose(g[:, None] + h[None, :], t, rtol=0, atol=1e-9):
        return None
    sums = sorted(set(flat))
    if 2 * len(sums) - 1 >= len(flat):
        return None  # the lookup table is no bigger
    form: Weights = {Direction(fst.label, a): float(v) for a, v in zip(a_vals, g)}
    form.update({Direction(snd.label, c): float(v) for c, v in zip(c_vals, h)})
    outs = [b.encode(expr, v) for v in sums]
    return _mlp(expr.label, b.staircase(form, tuple(float(v) for v in sums), outs))


def _numerical_sequence_map(expr: rasp.SequenceMap, b: _Builder) -> list[Block]:
    """``f(x, y)`` with a numerical input: one staircase over the numerical input per
    value of the other input, each gated by that value's direction.  When both are
    numerical, a first MLP writes a categorical copy of the second (scratch
    directions), so the node costs two MLP sub-layers."""
    fst, snd = expr.fst, expr.snd
    if fst.label == snd.label:
        xs = b.vals(fst)
        outs = [_try(b, expr, expr.f, x, x) for x in xs]
        return [_mlp(expr.label, b.staircase(Direction(fst.label), xs, outs))]
    flip = not rasp.is_numerical(fst)
    x, y = (snd, fst) if flip else (fst, snd)
    xs = b.vals(x)
    blocks: list[Block] = []
    if rasp.is_numerical(y):
        ys = b.vals(y)
        gates = [internal(expr.label, f"gate({y.label})", v) for v in ys]
        copy = b.staircase(Direction(y.label), ys, [{g: 1.0} for g in gates])
        blocks.append(_mlp(expr.label, copy))
    else:
        gates = list(b.dirs(y))
    if not b.fits(2 * len(gates) * len(xs), "gated staircases (one per value of the other input)"):
        return []
    units: list[tuple[Weights, Weights]] = []
    for gate in gates:
        v = gate.value
        outs = [_try(b, expr, expr.f, *((v, xv) if flip else (xv, v))) for xv in xs]
        units += b.staircase(Direction(x.label), xs, outs, gate=gate)
    blocks.append(_mlp(expr.label, units))
    return blocks


def _zip(expr: Zip, b: _Builder) -> list[Block]:
    """One unit per tuple of the parts' values: the unit sums one indicator per part and
    fires at ``len(parts)``.  A value's indicator is its direction; None's is
    ``one - sum(directions)``, 1 exactly where the part holds nothing."""
    options = []
    for part in expr.parts:
        dirs = b.dirs(part)
        found: list[tuple[Any, Weights]] = [(d.value, {d: 1.0}) for d in dirs]
        if None in b.values[part.label]:
            found.append((None, {ONE: 1.0, **{d: -1.0 for d in dirs}}))
        options.append(found)
    units = []
    for combo in itertools.product(*options):
        w_in: Weights = {ONE: 1.0 - len(combo)}
        for _, indicator in combo:
            w_in = _add(w_in, indicator)
        units.append((w_in, b.encode(expr, tuple(value for value, _ in combo))))
    return [_mlp(expr.label, units)]


def _linear(expr: rasp.LinearSequenceMap, b: _Builder) -> MLPBlock:
    out = Direction(expr.label)
    units: list[tuple[Weights, Weights]] = []
    for sop, fac in ((expr.fst, expr.fst_fac), (expr.snd, expr.snd_fac)):
        if rasp.is_numerical(sop):
            d = Direction(sop.label)
            units += [({d: 1.0}, {out: float(fac)}), ({d: -1.0}, {out: -float(fac)})]
        else:
            units += [({d: 1.0}, {out: float(fac) * float(d.value)}) for d in b.dirs(sop)]
    return _mlp(expr.label, units)


Scores = tuple[tuple[Direction, ...], tuple[Direction, ...], np.ndarray]
"""Dense attention scores: query directions, key directions, ``[nq, nk]`` weights."""


def _group_scores(group: Group, b: _Builder) -> Scores:
    """``beta`` where the group's formula holds, as a bilinear form with affine terms
    (through ``one``) that give None keys and queries the scores the formula says."""
    q_dirs, k_dirs = b.dirs(group.queries), b.dirs(group.keys)
    q_none = None in b.values[group.queries.label]
    k_none = None in b.values[group.keys.label]
    q_vals = [d.value for d in q_dirs] + [None]
    k_vals = [d.value for d in k_dirs] + [None]
    t = group.table(k_vals, q_vals).astype(np.float64)  # last row/col: None
    e = t[-1, -1] if q_none and k_none else 0.0
    c = t[:-1, -1] - e if k_none else np.zeros(len(q_dirs))  # query q, key None
    d = t[-1, :-1] - e if q_none else np.zeros(len(k_dirs))  # query None, key k
    w = np.zeros((len(q_dirs) + 1, len(k_dirs) + 1))
    w[:-1, :-1] = t[:-1, :-1] - c[:, None] - d[None, :] - e
    w[:-1, -1] = c
    w[-1, :-1] = d
    w[-1, -1] = e
    return (*q_dirs, ONE), (*k_dirs, ONE), b.beta * w


def _combine(parts: list[Scores]) -> Scores:
    """Sum score blocks over the union of their directions."""
    q_dirs = _directions(d for q, _, _ in parts for d in q)
    k_dirs = _directions(d for _, k, _ in parts for d in k)
    qi = {d: i for i, d in enumerate(q_dirs)}
    ki = {d: i for i, d in enumerate(k_dirs)}
    w = np.zeros((len(q_dirs), len(k_dirs)))
    for q, k, part in parts:
        np.add.at(w, np.ix_([qi[d] for d in q], [ki[d] for d in k]), part)
    return q_dirs, k_dirs, w


def _head(expr: rasp.SOp, scores: Scores, b: _Builder, bos_score: float, ov) -> HeadBlock:
    """A head from the scores plus the BOS terms: every query scores ``bos_score``
    on BOS, and the BOS query scores ``beta`` on BOS only (so BOS stays clean)."""
    bos = np.array([[bos_score], [b.beta]])
    q_dirs, k_dirs, w_qk = _combine([scores, ((ONE, b.bos), (b.bos,), bos)])
    rows, cols = np.any(w_qk != 0, axis=1), np.any(w_qk != 0, axis=0)  # drop unused dirs
    q_dirs = tuple(d for d, keep in zip(q_dirs, rows) if keep)
    k_dirs = tuple(d for d, keep in zip(k_dirs, cols) if keep)
    w_qk = w_qk[np.ix_(rows, cols)]
    v_dirs, o_dirs, w_ov = ov
    return HeadBlock(expr.label, q_dirs, k_dirs, _frozen(w_qk), v_dirs, o_dirs, _frozen(w_ov))


def _selection(selector: rasp.Selector, b: _Builder) -> tuple[Scores, int]:
    """Summed group scores and the number of groups (a selected key scores n * beta)."""
    plan = plan_selector(selector)
    return _combine([_group_scores(group, b) for group in plan.groups]), len(plan.groups)


def _aggregate(expr: rasp.Aggregate, b: _Builder) -> list[Block]:
    scores, n = _selection(expr.selector, b)
    sop = expr.sop
    rows: dict[Direction, Weights] = {}
    if rasp.is_numerical(sop):
        rows[Direction(sop.label)] = b.encode(expr, 1.0)
    else:
        for d in b.dirs(sop):
            rows[d] = b.encode(expr, float(d.value) if rasp.is_numerical(expr) else d.value)
    # value inference leaves the default out where the selection is never empty
    reachable = rasp.is_numerical(expr) or expr.default in b.values[expr.label]
    default = b.encode(expr, expr.default) if reachable else {}
    flag = internal(expr.label, "selected_any")
    if default:  # the head also reads ``one`` (0 at BOS): 1 where any key is selected
        rows[ONE] = {flag: 1.0}
    v_dirs = tuple(rows)
    o_dirs = _directions(d for weights in rows.values() for d in weights)
    w_ov = _matrix(o_dirs, list(rows.values()))
    head = _head(expr, scores, b, (n - 0.5) * b.beta, (v_dirs, o_dirs, w_ov))
    if not default:
        return [head]
    # the default where nothing is selected (a selected None stays None: the flag is 1)
    return [head, _mlp(expr.label, [({ONE: 1.0, flag: -1.0}, default)])]


def width_direction(label: str) -> Direction:
    """The hidden residual direction where a SelectorWidth head writes 1/(width+1)."""
    return internal(label, "width_attn")


def _width(expr: rasp.SOp, b: _Builder, scores: Scores, n: int) -> list[Block]:
    tmp = width_direction(expr.label)
    head = _head(expr, scores, b, n * b.beta, ((b.bos,), (tmp,), np.ones((1, 1))))
    top = max(v for v in b.values[expr.label] if v is not None)
    xs = tuple(sorted(1.0 / (w + 1) for w in range(top + 1)))
    possible = b.values[expr.label]
    widths = [round(1.0 / x) - 1 for x in xs]
    outs = [b.encode(expr, w) if w in possible else {} for w in widths]
    return [head, _mlp(expr.label, b.staircase(tmp, xs, outs, kill=b.bos))]


def _selector_width(expr: rasp.SelectorWidth, b: _Builder) -> list[Block]:
    return _width(expr, b, *_selection(expr.selector, b))


def _length(expr: rasp.LengthType, b: _Builder) -> list[Block]:
    return _width(expr, b, ((ONE,), (ONE,), np.full((1, 1), b.beta)), 1)


def _embedded(expr: rasp.SOp, b: _Builder) -> list[Block]:
    return []  # written by the token and position embeddings


_RULES: dict[type, Callable[[Any, _Builder], list[Block]]] = {
    rasp.TokensType: _embedded,
    rasp.IndicesType: _embedded,
    rasp.Full: _embedded,
    rasp.ConstantSOp: _embedded,
    rasp.LengthType: _length,
    rasp.Map: _map,
    rasp.SequenceMap: _sequence_map,
    rasp.LinearSequenceMap: _sequence_map,
    rasp.Aggregate: _aggregate,
    rasp.SelectorWidth: _selector_width,
    Zip: _zip,
}


def build_blocks(
    graph: ProgramGraph,
    values: ValueSets,
    bos: Direction,
    beta: float = SOFTMAX_BETA,
    prior: Sequence[Problem] = (),
) -> dict[str, list[Block]]:
    """The blocks computing each SOp, in the order they must run (selectors get none).

    ``prior`` are the problems validation found: those nodes and everything computed
    from them are not built (the rules they break are what blocks assume), the rest
    are, and one :class:`UnsupportedProgramError` lists the problems of both passes."""
    b = _Builder(graph, values, bos, beta)
    broken = {label for label, _ in prior if label in graph.graph}
    for label in list(broken):
        broken |= nx.descendants(graph.graph, label)
    blocks: dict[str, list[Block]] = {}
    for label in graph.order:
        expr = graph.expr(label)
        rule = _RULES.get(type(expr))
        if rule is not None and label not in broken:
            b.current = label
            blocks[label] = rule(expr, b)
    if prior or b.problems:
        raise UnsupportedProgramError([*prior, *b.problems])
    return blocks
