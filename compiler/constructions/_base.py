"""What every construction shares: the blocks it produces, the plan it returns first,
the context it reads, and the one table-size rule.

A construction turns one node into blocks in two steps.  :func:`plan` decides: it
picks the construction, counts its exact hidden units, estimates its float32 error
and lists its problems, without emitting any matrix.  :func:`build` then turns an
accepted plan's steps into blocks.  Validation sees every plan's problems before
anything is built, so a program is refused once, with all of them.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

import rasp
from compiler.basis import ONE, Direction, Role, sorted_values
from compiler.graph import ProgramGraph
from compiler.selectors import SelectorPlan
from compiler.values import ValueSets, representative
from rasp.errors import Problem

__all__ = [
    "MAX_TABLE",
    "SOFTMAX_BETA",
    "Block",
    "Construction",
    "Context",
    "HeadBlock",
    "MLPBlock",
    "MLPUnits",
    "Plan",
    "Stage",
    "Unit",
    "Weights",
    "add",
    "bos_direction",
    "directions",
    "encode",
    "matrix",
    "mlp_block",
    "node_directions",
    "size_problem",
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


def _frozen(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    values.setflags(write=False)
    return values


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

    @staticmethod
    def frozen(
        node: str,
        q_dirs: tuple[Direction, ...],
        k_dirs: tuple[Direction, ...],
        w_qk: np.ndarray,
        v_dirs: tuple[Direction, ...],
        o_dirs: tuple[Direction, ...],
        w_ov: np.ndarray,
    ) -> HeadBlock:
        """A head whose matrices are read-only float64 copies."""
        return HeadBlock(node, q_dirs, k_dirs, _frozen(w_qk), v_dirs, o_dirs, _frozen(w_ov))


Block = MLPBlock | HeadBlock
Weights = dict[Direction, float]
"""Sparse weights over named directions (a row or column of a block matrix)."""
Unit = tuple[Weights, Weights]
"""One hidden unit: ``(input weights, output weights)``."""


def add(a: Weights, b: Weights, scale: float = 1.0) -> Weights:
    out = dict(a)
    for d, w in b.items():
        out[d] = out.get(d, 0.0) + scale * w
    return out


def directions(dirs: Iterable[Direction]) -> tuple[Direction, ...]:
    """The distinct directions, in first-seen order."""
    return tuple(dict.fromkeys(dirs))


def matrix(dirs: tuple[Direction, ...], rows: list[Weights]) -> np.ndarray:
    index = {d: i for i, d in enumerate(dirs)}
    out = np.zeros((len(rows), len(dirs)))
    for r, weights in enumerate(rows):
        for d, w in weights.items():
            out[r, index[d]] += w
    return out


@dataclass(frozen=True)
class MLPUnits:
    """One MLP sub-layer of a plan: its hidden units, those that write nothing already
    dropped, so ``len(units)`` is the block's exact hidden size.  (Not to be mutated:
    the units' weights are the plan's.)"""

    units: tuple[Unit, ...]

    @staticmethod
    def of(units: Iterable[Unit]) -> MLPUnits:
        kept = tuple((w_in, w_out) for w_in, w_out in units if any(v != 0 for v in w_out.values()))
        # a node that is constant zero still needs a (trivial) block
        return MLPUnits(kept or (({ONE: 0.0}, {}),))

    @property
    def hidden_size(self) -> int:
        return len(self.units)


def mlp_block(node: str, step: MLPUnits) -> MLPBlock:
    """The MLP block of one planned sub-layer."""
    units = step.units
    in_dirs = directions(d for w_in, _ in units for d in w_in)
    out_dirs = directions(d for _, w_out in units for d in w_out)
    w_in = matrix(in_dirs, [u[0] for u in units]).T
    w_out = matrix(out_dirs, [u[1] for u in units])
    return MLPBlock(node, in_dirs, out_dirs, _frozen(w_in), _frozen(w_out))


Step = MLPUnits | HeadBlock
"""One planned sub-layer: MLP units still to be laid out as matrices, or a finished head
(its scores are what planning computes)."""


@dataclass(frozen=True)
class Plan:
    """How one node will be compiled, decided before any block is built.

    ``hidden`` is the exact number of MLP hidden units of all its blocks (for a refused
    plan: what it would need); ``heads`` its attention heads; ``error`` the worst float32
    error its estimate gives (:mod:`compiler.precision`; 0 for constructions that only
    add 0/1 indicators or copy values); ``problems`` why it cannot be built (then
    ``steps`` is empty)."""

    node: str
    construction: str
    hidden: int
    heads: int
    error: float
    problems: tuple[Problem, ...]
    steps: tuple[Step, ...] = field(repr=False)

    @property
    def ok(self) -> bool:
        return not self.problems

    def blocks(self) -> list[Block]:
        """The blocks, in the order they run."""
        return [mlp_block(self.node, s) if isinstance(s, MLPUnits) else s for s in self.steps]

    @staticmethod
    def of(
        node: str,
        construction: str,
        steps: Iterable[Step],
        error: float = 0.0,
        problems: Iterable[Problem] = (),
    ) -> Plan:
        """A plan from its steps (the sizes are counted from them).  With problems the
        steps are dropped, but their size is kept for the report."""
        steps = tuple(steps)
        problems = tuple(problems)
        hidden = sum(s.hidden_size for s in steps if isinstance(s, MLPUnits))
        heads = sum(isinstance(s, HeadBlock) for s in steps)
        return Plan(node, construction, hidden, heads, error, problems, () if problems else steps)

    @staticmethod
    def refused(node: str, construction: str, hidden: int, problem: Problem) -> Plan:
        """A construction too large to enumerate: its size and why it is refused."""
        return Plan(node, construction, hidden, 0, 0.0, (problem,), ())


def size_problem(node: str, hidden: int, what: str) -> Problem | None:
    """The table-size rule, stated once: a construction of ``hidden`` units may be built
    for one node only up to :data:`MAX_TABLE`."""
    if hidden <= MAX_TABLE:
        return None
    return (
        node,
        f"its {what} would need {hidden:,} hidden units (over {MAX_TABLE:,}); shrink the "
        "inputs' value sets (or round them with a Map)",
    )


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


@dataclass(frozen=True)
class Context:
    """What a construction reads: the graph, every node's value set, the BOS direction,
    the attention scale and the plan of every selector a head uses (planned once, by
    :func:`compiler.blocks.plan_selectors`, before any node)."""

    graph: ProgramGraph
    values: ValueSets
    bos: Direction
    beta: float = SOFTMAX_BETA
    selectors: Mapping[str, SelectorPlan] = field(default_factory=lambda: MappingProxyType({}))

    def dirs(self, expr: rasp.SOp) -> tuple[Direction, ...]:
        return node_directions(expr.label, expr, self.values[expr.label])

    def vals(self, expr: rasp.SOp) -> tuple[Any, ...]:
        return sorted_values(v for v in self.values[expr.label] if v is not None)

    def encode(self, expr: rasp.SOp, value: Any) -> Weights:
        """``value``'s weights, snapped to the member of the node's value set that stands
        for it (value sets merge floats that differ only by rounding)."""
        return encode(expr.label, expr, representative(value, self.values[expr.label]))

    def attempt(self, expr: rasp.SOp, fn: Callable[..., Any], *args: Any) -> Weights:
        """The encoding of ``fn(*args)``, or nothing where ``fn`` rejects the input (the
        evaluator rejects such inputs too; validation refuses them unless ``partial``)."""
        try:
            return self.encode(expr, fn(*args))
        except Exception:
            return {}


@dataclass(frozen=True)
class Construction:
    """One way to compile nodes of the types in ``handles``.  ``plan`` answers None where
    the construction does not apply (e.g. a function that is not separable); among the
    constructions for one node type the lowest ``rank`` that applies is chosen."""

    name: str
    handles: tuple[type, ...]
    rank: int
    plan: Callable[[Any, Context], Plan | None]
