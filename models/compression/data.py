"""Inputs and targets for training and scoring a compressed model.

One set of inputs is the yardstick everywhere: every valid input when they can be
enumerated (at most ``exhaustive_limit``), otherwise a stated random sample of valid
inputs.  :class:`InputSet` carries which of the two it is, so every accuracy printed
(progress bar, history, :func:`models.evaluate_compression`, sweep tables) says what
it was measured on.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

import rasp
from compiler.artifact import Encoding, ModelLayout
from models.compiled import CompiledModel
from rasp.errors import EvaluationError, RaspcValueError

__all__ = ["InputSet", "OutputSpec", "evaluation_inputs", "input_set", "output_spec"]


@dataclass(frozen=True)
class OutputSpec:
    """How the output node is scored: its residual columns, classes or values."""

    numerical: bool
    columns: tuple[int, ...]
    values: tuple  # categorical: one per direction (None is the extra, last class)
    snap: tuple | None  # numerical: every value it can take, sorted (None: unknown)
    atol: float  # numerical without ``snap``: how close counts as right

    @property
    def margin(self) -> float:
        """Numerical errors up to this are safe: a quarter of the smallest gap between
        possible values (decoding snaps to the nearest), else half of ``atol``."""
        if self.snap is None or len(self.snap) < 2:
            return self.atol / 2
        return float(np.diff([float(v) for v in self.snap]).min()) / 4


def output_spec(model: CompiledModel, atol: float) -> OutputSpec:
    """The output node's scoring, all from the layout: a numerical output snaps to the
    value set the compiler's value-set pass found (``NodeLayout.numbers``)."""
    node = model.layout.output_node
    if node.encoding != Encoding.NUMERICAL:
        return OutputSpec(False, tuple(node.residual), tuple(node.values), None, atol)
    return OutputSpec(True, tuple(node.residual), (), node.numbers, atol)


def expected(program: rasp.SOp, xs: list[Any], causal: bool) -> list[Any] | None:
    """The evaluator's output, or None when the input is outside the program's domain."""
    try:
        return rasp.evaluate(program, xs, causal=causal)
    except EvaluationError:
        return None


@dataclass(frozen=True)
class InputSet:
    """Valid inputs (without BOS) and how they were chosen."""

    inputs: list[list[Any]]
    exhaustive: bool  # every valid input up to max_seq_len
    out_of_domain: int  # inputs the evaluator rejected (skipped)

    def describe(self) -> str:
        if self.exhaustive:
            return f"all {len(self.inputs)} valid inputs"
        return f"a random sample of {len(self.inputs)} valid inputs"


def _space_size(vocab: int, max_seq_len: int) -> int:
    return sum(vocab**n for n in range(1, max_seq_len + 1))


def input_set(
    program: rasp.SOp,
    layout: ModelLayout,
    *,
    exhaustive_limit: int,
    samples: int,
    seed: Any,
) -> InputSet:
    """Every valid input if there are at most ``exhaustive_limit`` inputs, else
    ``samples`` random valid ones drawn with ``seed``."""
    vocab = sorted(layout.vocab, key=repr)
    if _space_size(len(vocab), layout.max_seq_len) <= exhaustive_limit:
        every = [
            list(xs)
            for n in range(1, layout.max_seq_len + 1)
            for xs in itertools.product(vocab, repeat=n)
        ]
        kept = [xs for xs in every if expected(program, xs, layout.causal) is not None]
        return InputSet(kept, True, len(every) - len(kept))
    rng = np.random.default_rng(seed)
    return InputSet(random_valid_inputs(program, layout, samples, rng), False, 0)


def evaluation_inputs(program: rasp.SOp, layout: ModelLayout, settings: Any) -> InputSet:
    """The inputs every accuracy of a run with ``settings`` is measured on."""
    return input_set(
        program,
        layout,
        exhaustive_limit=settings.exhaustive_limit,
        samples=settings.eval_size,
        seed=[settings.seed, 1],
    )


def given_inputs(program: rasp.SOp, layout: ModelLayout, inputs: Sequence[Sequence[Any]]):
    """A user's own inputs as an :class:`InputSet` (never called exhaustive)."""
    kept = [list(xs) for xs in inputs if expected(program, list(xs), layout.causal) is not None]
    return InputSet(kept, False, len(inputs) - len(kept))


def draw_valid_inputs(
    accepts: Callable[[list[Any]], bool],
    vocab: Sequence[Any],
    count: int,
    draw_length: Callable[[], int],
    rng: np.random.Generator,
    fix: str,
) -> tuple[list[tuple], dict[tuple, bool]]:
    """``count`` random inputs ``accepts`` takes: a length from ``draw_length``, then
    uniform tokens from ``vocab``; rejected draws are skipped.  Returns the inputs and
    the verdict on every distinct draw.  The one sampler of compression and SAE data;
    ``fix`` completes the error for a program that rejects almost everything."""
    verdicts: dict[tuple, bool] = {}
    out: list[tuple] = []
    attempts = 0
    while len(out) < count:
        attempts += 1
        if attempts > 50 * count + 1000:
            raise RaspcValueError(
                f"the evaluator rejected all but {len(out)} of {attempts} random inputs; "
                f"expected a program that accepts a fair share of random inputs, fix: {fix}"
            )
        n = draw_length()
        xs = tuple(vocab[i] for i in rng.integers(0, len(vocab), size=n))
        if xs not in verdicts:
            verdicts[xs] = accepts(list(xs))
        if verdicts[xs]:
            out.append(xs)
    return out, verdicts


def random_valid_inputs(
    program: rasp.SOp, layout: ModelLayout, count: int, rng: np.random.Generator
) -> list[list[Any]]:
    """``count`` random inputs the evaluator accepts: a uniform length in
    ``1..max_seq_len``, then uniform tokens; rejected draws are skipped."""
    out, _ = draw_valid_inputs(
        lambda xs: expected(program, xs, layout.causal) is not None,
        sorted(layout.vocab, key=repr),
        count,
        lambda: int(rng.integers(1, layout.max_seq_len + 1)),
        rng,
        "train on a vocabulary/max_seq_len where most inputs are valid",
    )
    return [list(xs) for xs in out]


@dataclass(frozen=True)
class Data:
    """Padded inputs and their expected outputs (numpy, one row per input)."""

    ids: np.ndarray  # [rows, T] int32
    valid: np.ndarray  # [rows, T] bool: token positions (not BOS, not padding)
    target: np.ndarray  # [rows, T] int32: class (categorical, None last) or snap index
    value: np.ndarray  # [rows, T] float32: numerical target (0 for categorical)

    def arrays(self) -> dict[str, np.ndarray]:
        return {"ids": self.ids, "valid": self.valid, "target": self.target, "value": self.value}


def _targets(spec: OutputSpec, outputs: list[Any]) -> tuple[list[int], list[float]]:
    if spec.numerical:
        values = [float(v) for v in outputs]
        if spec.snap is None:
            return [-1] * len(values), values
        snap = np.asarray([float(v) for v in spec.snap])
        return [int(np.abs(snap - v).argmin()) for v in values], values
    index = {v: i for i, v in enumerate(spec.values)}
    classes = []
    for v in outputs:
        if v is not None and v not in index:
            raise RaspcValueError(
                f"the evaluator gave {v!r}, which is not among the output's compiled values "
                f"{list(spec.values)!r}; the model and program disagree (pass the program the "
                "model was compiled from)"
            )
        classes.append(len(spec.values) if v is None else index[v])
    return classes, [0.0] * len(outputs)


def build_data(
    model: CompiledModel, program: rasp.SOp, spec: OutputSpec, inputs: Sequence[Sequence[Any]]
) -> Data:
    """Token ids (BOS first, PAD after) and targets for valid ``inputs``."""
    enc, width = model.input_encoder, model.model_config.max_seq_len + 1
    n = len(inputs)
    ids = np.full((n, width), enc.pad_id, dtype=np.int32)
    valid = np.zeros((n, width), dtype=bool)
    target = np.zeros((n, width), dtype=np.int32)
    value = np.zeros((n, width), dtype=np.float32)
    causal = model.layout.causal
    for row, xs in enumerate(inputs):
        outputs = expected(program, list(xs), causal)
        if outputs is None:
            raise RaspcValueError(f"internal: input {xs!r} is outside the program's domain")
        ids[row, : len(xs) + 1] = enc.encode([enc.bos_token, *xs])
        valid[row, 1 : len(xs) + 1] = True
        classes, values = _targets(spec, outputs)
        target[row, 1 : len(xs) + 1] = classes
        value[row, 1 : len(xs) + 1] = values
    return Data(ids, valid, target, value)
