"""What "accuracy" means for a compressed model, defined once.

An input counts as right when every position's decoded output equals the
evaluator's (categorical: the argmax class, or None below the read-out threshold;
numerical: the nearest value the output can take, or within ``atol`` when the
compiler could not list them).  :func:`correct` is that rule on arrays; training's
checkpoints, the progress bar, :func:`evaluate_compression` and the sweep tables all
call it, on the inputs of :func:`models.compression.data.evaluation_inputs` (every
valid input when enumerable, else a stated sample).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jax.numpy as jnp
import numpy as np

import rasp
from models.compression.data import (
    OutputSpec,
    build_data,
    evaluation_inputs,
    given_inputs,
    output_spec,
)
from models.compression.model import CompressedModel, layer_names
from models.compression.settings import CompressionSettings
from models.encoders import NONE_THRESHOLD
from rasp.errors import RaspcTypeError, RaspcValueError

__all__ = ["CompressionReport", "LayerFaithfulness", "correct", "evaluate_compression"]


def scores(out: jnp.ndarray, spec: OutputSpec) -> jnp.ndarray:
    """The output node's columns of the read-out ``out [B, T, D]``: [B, T, V]."""
    return out[..., jnp.asarray(spec.columns, dtype=jnp.int32)]


def correct(out: jnp.ndarray, batch: dict, spec: OutputSpec) -> jnp.ndarray:
    """[B, T] bool: the decoded output is right (BOS and padding count as right), for
    the read-out ``out [B, T, D]`` and the targets in ``batch`` (``valid``, ``target``,
    ``value``, as :func:`models.compression.data.build_data` makes them)."""
    got = scores(out, spec)
    if spec.numerical:
        got = got[..., 0]
        if spec.snap is None:
            tol = spec.atol * jnp.maximum(1.0, jnp.abs(batch["value"]))
            ok = jnp.abs(got - batch["value"]) <= tol
        else:
            snap = jnp.asarray([float(v) for v in spec.snap])
            ok = jnp.abs(got[..., None] - snap).argmin(-1) == batch["target"]
    else:
        top = got.max(-1) if got.shape[-1] else jnp.zeros(got.shape[:-1])
        best = got.argmax(-1) if got.shape[-1] else jnp.zeros(got.shape[:-1], int)
        pred = jnp.where(top >= NONE_THRESHOLD, best, len(spec.values))
        ok = pred == batch["target"]
    return ok | ~batch["valid"]


@dataclass(frozen=True)
class LayerFaithfulness:
    """How close one layer's output in the compressed model is to the original's.

    ``cosine`` is the mean over positions where the original layer writes something
    (None if it never does, e.g. an empty sub-layer); ``mse`` the mean squared error
    over positions and all D coordinates."""

    name: str
    cosine: float | None
    mse: float


@dataclass(frozen=True)
class CompressionReport:
    """Exact-match accuracy against the evaluator, and per-layer faithfulness."""

    checked: int  # inputs compared
    out_of_domain: int  # inputs the evaluator rejects (skipped)
    exhaustive: bool  # ``checked`` is every valid input up to max_seq_len
    accuracy: float  # fraction of inputs whose whole output is right
    token_accuracy: float  # fraction of positions that are right
    layers: tuple[LayerFaithfulness, ...]
    failures: tuple[tuple[list, list, list], ...]  # first few (input, expected, got)

    @property
    def measured_on(self) -> str:
        kind = "all" if self.exhaustive else "a random sample of"
        return f"{kind} {self.checked} valid inputs"

    def __str__(self) -> str:
        lines = [
            f"exact {self.accuracy:.2%} on {self.measured_on} ({self.out_of_domain} outside "
            f"the domain), per token {self.token_accuracy:.2%}",
            f"  {'layer':<24} {'cosine':>8} {'mse':>10}",
        ]
        for f in self.layers:
            cosine = "-" if f.cosine is None else f"{f.cosine:.4f}"
            lines.append(f"  {f.name:<24} {cosine:>8} {f.mse:>10.3g}")
        lines += [f"  wrong: {xs} expected {e} got {g}" for xs, e, g in self.failures[:3]]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _faithfulness(seen: list, want: list, present: np.ndarray, sums: np.ndarray) -> None:
    """Accumulate (squared error, cosine sum, cosine count) per layer into ``sums``."""
    for i, (a, b) in enumerate(zip(seen, want)):
        a, b = np.asarray(a), np.asarray(b)
        sums[0, i] += float((((a - b) ** 2).sum(-1) * present).sum())
        norm_a, norm_b = np.linalg.norm(a, axis=-1), np.linalg.norm(b, axis=-1)
        live = present & (norm_b > 1e-6)
        c = (a * b).sum(-1) / np.maximum(norm_a * norm_b, 1e-12)
        sums[1, i] += float(c[live].sum())
        sums[2, i] += int(live.sum())


def evaluate_compression(
    model: CompressedModel,
    inputs: Sequence[Sequence[Any]] | None = None,
    *,
    program: rasp.SOp | None = None,
    chunk: int = 1024,
) -> CompressionReport:
    """Compare ``model`` with the evaluator (outputs, see :func:`correct`) and with its
    compiled model (every layer's output) on ``inputs``, by default the inputs its
    training was scored on: every valid input up to ``max_seq_len`` when there are at
    most ``exhaustive_limit``, otherwise a seeded sample (both from the model's
    settings).  Inputs the evaluator rejects are skipped."""
    if not isinstance(model, CompressedModel):
        raise RaspcTypeError(
            f"evaluate_compression needs a CompressedModel, found {type(model).__name__}; "
            "make one with models.compress(model, d)"
        )
    program = program if program is not None else model.program
    if program is None:
        raise RaspcValueError(
            "evaluate_compression needs the RASP program: this model was loaded without it; "
            "pass program=..."
        )
    settings = model.settings or CompressionSettings()
    layout = model.layout
    if inputs is None:
        chosen = evaluation_inputs(program, layout, settings)
    else:
        chosen = given_inputs(program, layout, inputs)
    spec = output_spec(model.base, settings.atol)
    data = build_data(model.base, program, spec, chosen.inputs).arrays()
    names = layer_names(model.model_config)
    sums = np.zeros((3, len(names)))  # squared error, cosine sum, cosine count
    right = right_tokens = 0
    failures: list[tuple[list, list, list]] = []
    for start in range(0, len(chosen.inputs), chunk):
        batch = {k: v[start : start + chunk] for k, v in data.items()}
        out, ref = model._run(batch["ids"]), model.original(batch["ids"])
        present = batch["ids"] != model.input_encoder.pad_id
        seen = [out["embeddings"], *out["layer_outputs"]]
        _faithfulness(seen, [ref["embeddings"], *ref["layer_outputs"]], present, sums)
        ok = np.asarray(correct(out["output"], batch, spec))
        right += int(ok.all(-1).sum())
        right_tokens += int((ok & batch["valid"]).sum())
        for row in np.flatnonzero(~ok.all(-1))[: 5 - len(failures)]:
            xs = chosen.inputs[start + row]
            want = rasp.evaluate(program, xs, causal=layout.causal)
            got = model.decode(np.asarray(out["output"][row, 1 : len(xs) + 1]))
            failures.append((xs, list(want), got))
    coords = int((data["ids"] != model.input_encoder.pad_id).sum()) * model.d_full
    layers = tuple(
        LayerFaithfulness(
            name,
            float(sums[1, i] / sums[2, i]) if sums[2, i] else None,
            float(sums[0, i] / coords) if coords else math.nan,
        )
        for i, name in enumerate(names)
    )
    n, tokens = len(chosen.inputs), int(data["valid"].sum())
    return CompressionReport(
        checked=n,
        out_of_domain=chosen.out_of_domain,
        exhaustive=chosen.exhaustive,
        accuracy=right / n if n else math.nan,
        token_accuracy=right_tokens / tokens if tokens else math.nan,
        layers=layers,
        failures=tuple(failures),
    )
