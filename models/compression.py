"""Squeeze a compiled model's residual stream into fewer dimensions with a learned projection.

A compiled model gives every value its own residual direction, so nothing in
it is in superposition.  Tracr's paper (Lindner et al., 2023, section 5)
learns one linear map of the residual stream over the frozen compiled weights,
forcing the same computation into fewer dimensions; what the map keeps, drops
and overlaps is then a known-ground-truth case of superposition.  This module
builds that compressed model, trains the projection, and measures it; the
analysis and plots are in :mod:`models.superposition`.

Shapes: B batch, T positions (BOS included), D the compiled width (d_model),
d the compressed width, N sublayers (two per layer), M MLP width, H heads,
K key size.  The projection is ``write [D, d]`` (``x_small = x_full @ write``)
and ``read [R, d, D]`` (``x_full_hat = x_small @ read[i]``), one read matrix
per bottleneck (R is 1, or N + 1 in the "layer" placement).  Tied projections
read with ``write.T``, as in the paper.

Placements (``mode``):

* ``"stream"`` (the paper's): the residual stream lives in d dimensions.  The
  embeddings are written through ``write``; every sublayer reads the stream
  through the read matrix and adds its output back through ``write``; the
  output is read back through the read matrix.
* ``"layer"``: the stream stays D wide, and before every sublayer (and before
  the read-out) it is replaced by its round trip through the bottleneck,
  ``x <- x @ write @ read[i]``, with its own read matrix per bottleneck when
  untied.  Sublayer outputs are added at full width and squeezed at the next
  boundary.

Everything here is linear, so a stream kept in D dimensions and read through
``write @ read`` by each layer would compute exactly what "stream" computes;
"layer" differs because it re-projects the whole stream at each boundary
(identical to "stream" when ``read @ write`` is the identity, e.g. tied with
orthonormal columns) and, untied, lets each layer decompress differently.

Training (:func:`compress`) minimises, on random valid inputs,

    output_weight * output_loss + layer_weight * layer_loss

The output loss is, for a categorical output, the cross-entropy over its
values plus a "None" class, against the compiled model's own output
distribution (whose argmax is the evaluator's value on every valid input, so
the exact model is a stationary point); for a numerical output, the squared
error against the evaluator's value plus a hinge on errors that approach what
decoding tolerates.  The layer loss is the mean over the embeddings and every
sublayer of ``|seen - original|^2`` per position: ``seen`` is that layer's
output as the next reader sees it (through the bottleneck), ``original`` what
the compiled model's layer writes on the same input.

The paper's projection is one free matrix.  Compiled models are unforgiving
of it: a SelectorWidth head gives BOS exactly the score of the selected keys
at a scale of 100, so a direction whose norm drifts by a fraction of a percent
breaks it, and an optimiser step of 1e-3 does.  raspc's default therefore
keeps the write matrix orthonormal and starts from the exact model with the
directions ordered by importance, squeezing the last columns out gradually;
``orthonormal=False, init="random"`` is the paper's setup, which does better
on programs without such heads (frac_prevs).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import rasp
from compiler.layout import ModelLayout, decode_value, encode_value
from compiler.weights import ModelConfig
from models.compiled import CompiledModel, ModelOutput, encode_batch, padded_chunks
from models.encoders import NONE_THRESHOLD
from models.verification import input_space, values_match
from rasp.errors import EvaluationError, RaspcError, RaspcTypeError, RaspcValueError

__all__ = [
    "MODES",
    "CompressedModel",
    "CompressedOutput",
    "CompressionReport",
    "LayerFaithfulness",
    "TrainingHistory",
    "compress",
    "evaluate_compression",
    "layer_names",
    "load_compressed",
    "save_compressed",
]

MODES = ("stream", "layer")

Params = dict[str, dict[str, Any]]

_FORMAT_KEY = "compressed"  # key of the compressed model's settings in saved ``extra``


def _require(module: str, extra: str) -> Any:
    """Import an optional dependency, or say which extra installs it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise RaspcError(
            f"{module} is needed here but is not installed; install it with "
            f"`pip install 'raspc[{extra}]'`"
        ) from exc


def layer_names(cfg: ModelConfig) -> list[str]:
    """Names of the layers whose outputs are compared, TransformerLens style: the
    embeddings, then each layer's attention and MLP outputs."""
    names = ["hook_embed"]
    for layer in range(cfg.num_layers):
        names += [f"blocks.{layer}.hook_attn_out", f"blocks.{layer}.hook_mlp_out"]
    return names


# ---------------------------------------------------------------- the forward pass


def _linear(p: Params, name: str, x: jax.Array) -> jax.Array:
    return x @ p[name]["w"] + p[name]["b"]


def _attention(p: Params, x: jax.Array, mask: jax.Array, cfg: ModelConfig, layer: int) -> dict:
    # the same math as models/transformer.py, on the same parameter paths
    b, t, _ = x.shape
    h, k = cfg.num_heads, cfg.key_size
    pre = f"transformer/layer_{layer}/attn/"
    q = _linear(p, pre + "query", x).reshape(b, t, h, k)  # [B, T, H, K]
    kk = _linear(p, pre + "key", x).reshape(b, t, h, k)
    v = _linear(p, pre + "value", x).reshape(b, t, h, k)
    scores = jnp.einsum("bqhk,bthk->bhqt", q, kk) / jnp.sqrt(jnp.float32(k))  # [B, H, T, T]
    scores = jnp.where(mask, scores, -1e30)
    pattern = jax.nn.softmax(scores, axis=-1)
    z = jnp.einsum("bhqt,bthk->bqhk", pattern, v).reshape(b, t, h * k)
    return {"scores": scores, "pattern": pattern, "out": _linear(p, pre + "linear", z)}


def _mlp(p: Params, x: jax.Array, layer: int) -> dict:
    pre = f"transformer/layer_{layer}/mlp/"
    hidden = jax.nn.relu(_linear(p, pre + "linear_1", x))  # [B, T, M]
    return {"hidden": hidden, "out": _linear(p, pre + "linear_2", hidden)}


def _forward(
    params: Params,
    proj: dict[str, jax.Array] | None,
    ids: jax.Array,
    *,
    cfg: ModelConfig,
    pad_id: int,
    mode: str,
) -> dict[str, Any]:
    """Run ``ids [B, T]`` through the compiled weights, squeezed through ``proj``
    (``{"write": [D, d], "read": [R, d, D]}``) or, with ``proj=None``, as compiled.

    Everything returned is in the full basis and "as the next reader sees it":
    ``embeddings`` and ``residuals[i]`` are the stream read through the bottleneck
    that follows, ``layer_outputs[i]`` is sublayer ``i``'s output read that way,
    ``output`` is what the read-out decodes.  ``compressed[i]`` is the d-wide code at
    each bottleneck (empty without ``proj``).
    """
    _, t = ids.shape
    x = params["token_embed"]["embeddings"][ids] + params["pos_embed"]["embeddings"][:t][None]
    mask = (ids != pad_id)[:, None, None, :]  # [B, 1, 1, T] keys that exist
    if cfg.causal:
        mask = mask & jnp.tril(jnp.ones((t, t), dtype=bool))[None, None]
    out: dict[str, Any] = {
        "residuals": [],
        "layer_outputs": [],
        "attn_logits": [],
        "attn_patterns": [],
        "mlp_hidden": [],
        "compressed": [],
    }

    def squeeze(v: jax.Array, i: int, keep: bool = False) -> jax.Array:
        """``v`` through bottleneck ``i``: written into d dims and read back."""
        if proj is None:
            return v
        code = v @ proj["write"]  # [B, T, d]
        if keep:
            out["compressed"].append(code)
        read = proj["read"]
        return code @ read[min(i, read.shape[0] - 1)]

    def sublayer(i: int, seen: jax.Array) -> jax.Array:
        layer = i // 2
        if i % 2 == 0:
            attn = _attention(params, seen, mask, cfg, layer)
            out["attn_logits"].append(attn["scores"])
            out["attn_patterns"].append(attn["pattern"])
            return attn["out"]
        mlp = _mlp(params, seen, layer)
        out["mlp_hidden"].append(mlp["hidden"])
        return mlp["out"]

    seen = squeeze(x, 0, keep=True)  # [B, T, D]
    out["embeddings"] = seen
    stream = x  # "stream": the full-basis sum whose code is the stream; "layer": the stream
    for i in range(2 * cfg.num_layers):
        write = sublayer(i, seen)
        out["layer_outputs"].append(squeeze(write, i + 1))
        if mode == "stream":
            stream = stream + write  # the d-wide stream is stream @ write
            seen = seen + out["layer_outputs"][-1]
            if proj is not None:
                out["compressed"].append(stream @ proj["write"])
        else:
            seen = squeeze(seen + write, i + 1, keep=True)
        out["residuals"].append(seen)
    out["output"] = seen
    return out


_jit_forward = jax.jit(_forward, static_argnames=("cfg", "pad_id", "mode"))


# ---------------------------------------------------------------- the compressed model


@dataclass(frozen=True)
class CompressedOutput(ModelOutput):
    """A compressed forward pass: :class:`ModelOutput` (every array in the full basis,
    as the next reader sees it), plus the d-wide code at each bottleneck."""

    compressed: list[jax.Array]  # [1, T, d] per bottleneck


@dataclass(frozen=True)
class TrainingHistory:
    """What happened while training: the loss at every step, and checkpoints on the
    validation inputs every ``eval_every`` steps."""

    loss: list[float]  # total loss per step
    output_loss: list[float]
    layer_loss: list[float]
    checkpoints: list[dict[str, float]]  # {"step", "accuracy", "token_accuracy", "loss"}
    best_step: int  # the checkpoint whose projection was kept
    stopped_early: bool
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrainingHistory:
        return cls(**data)


@dataclass
class CompressedModel:
    """A compiled model whose residual stream is squeezed into ``d`` dimensions.

    It runs like a :class:`models.CompiledModel` (``apply``, ``run_batch``,
    ``run_chunks``, ``layout``, ``residual_labels``, encoders), so decoding,
    verification and the analysis read it the same way; ``base`` is the frozen
    compiled model.  Numerical outputs are snapped to the nearest value the output
    can take (``output_values``, when known): the numerical counterpart of the
    categorical argmax, so a value decodes right exactly when the model is closer to
    it than to any other possible value.
    """

    base: CompiledModel = field(repr=False)
    write: np.ndarray = field(repr=False)  # [D, d]
    read: np.ndarray | None = field(default=None, repr=False)  # [R, d, D]; tied: write.T
    mode: str = "stream"
    tied: bool = True
    output_values: tuple | None = field(default=None, repr=False)
    settings: dict[str, Any] = field(default_factory=dict, repr=False)
    history: TrainingHistory | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.write = np.asarray(self.write, dtype=np.float32)
        d_full = self.base.model_config.d_model
        if self.mode not in MODES:
            raise RaspcValueError(f"compression mode must be one of {MODES}, found {self.mode!r}")
        if self.write.ndim != 2 or self.write.shape[0] != d_full or not 1 <= self.d <= d_full:
            raise RaspcValueError(
                f"the write matrix must be [D={d_full}, d] with 1 <= d <= {d_full}, found "
                f"shape {list(self.write.shape)}"
            )
        if self.read is None:
            if not self.tied:
                raise RaspcValueError("an untied compressed model needs its read matrices")
            self.read = self.write.T[None]
        self.read = np.asarray(self.read, dtype=np.float32)
        expected = (_num_reads(self.base.model_config, self.mode, self.tied), self.d, d_full)
        if self.read.shape != expected:
            raise RaspcValueError(
                f"the read matrices must be {list(expected)} for mode {self.mode!r} "
                f"(tied={self.tied}), found {list(self.read.shape)}"
            )
        # zero-padded to D columns: the same function, and one jitted shape for every d
        extra = d_full - self.d
        self._padded = {
            "write": jnp.asarray(np.pad(self.write, ((0, 0), (0, extra)))),
            "read": jnp.asarray(np.pad(self.read, ((0, 0), (0, extra), (0, 0)))),
        }
        kwargs = {"cfg": self.model_config, "pad_id": self.input_encoder.pad_id, "mode": self.mode}
        self._jitted = functools.partial(_jit_forward, **kwargs)
        self._snap = (
            None
            if self.output_values is None
            else np.asarray([float(v) for v in self.output_values], dtype=np.float64)
        )

    # Tracr's interface, from the frozen model
    @property
    def params(self) -> Params:
        return self.base.params

    @property
    def model_config(self) -> ModelConfig:
        return self.base.model_config

    @property
    def layout(self) -> ModelLayout:
        return self.base.layout

    @property
    def program(self) -> rasp.SOp | None:
        return self.base.program

    @property
    def residual_labels(self) -> list[str]:
        return self.base.residual_labels

    @property
    def input_encoder(self) -> Any:
        return self.base.input_encoder

    @property
    def output_encoder(self) -> Any:
        return self.base.output_encoder

    @property
    def d(self) -> int:
        """The compressed width."""
        return int(self.write.shape[1])

    @property
    def d_full(self) -> int:
        """The compiled width D."""
        return int(self.write.shape[0])

    def decode(self, output: np.ndarray) -> list[Any]:
        """Program values from the read-out ``output [T, D]``."""
        values = self.output_encoder.decode(output)
        if self._snap is None or self.layout.output_node.encoding != "numerical":
            return values
        picks = np.abs(np.asarray(values, dtype=np.float64)[:, None] - self._snap).argmin(-1)
        return [self.output_values[i] for i in picks]

    def apply(self, tokens: Sequence[Any]) -> CompressedOutput:
        """Run one input that starts with BOS: ``model.apply(["compiler_bos", *tokens])``."""
        ids = np.asarray([self.input_encoder.encode(tokens)])
        out = self._run(ids)
        decoded = self.decode(np.asarray(out["output"][0]))
        bos = self.input_encoder.bos_token
        return CompressedOutput.from_forward(out, decoded, bos, compressed=out["compressed"])

    def run_chunks(
        self, batch: Sequence[Sequence[Any]], chunk: int = 1024, keep: Sequence[str] = ()
    ) -> Iterator[tuple[list[list[Any]], np.ndarray, dict[str, Any]]]:
        """Like :meth:`models.CompiledModel.run_chunks`: yields ``(inputs, output [B, T, D],
        extras)`` for padded chunks of ``batch`` (inputs without BOS)."""
        yield from padded_chunks(
            batch, chunk, self.input_encoder, self.model_config, self._run, keep
        )

    def _run(self, ids: np.ndarray) -> dict[str, Any]:
        out = self._jitted(self.params, self._padded, ids)
        return {**out, "compressed": [c[..., : self.d] for c in out["compressed"]]}

    def original(self, ids: np.ndarray) -> dict[str, Any]:
        """The compiled model's forward on token ids ``[B, T]``, in the same terms as
        the compressed one (what each layer writes, the stream, the read-out)."""
        return self._jitted(self.params, None, ids)

    def run_batch(self, batch: Sequence[Sequence[Any]], chunk: int = 1024) -> list[list[Any]]:
        """Decoded outputs for many inputs *without* BOS, one value per input token."""
        results: list[list[Any]] = []
        for part, out, _ in self.run_chunks(batch, chunk):
            results.extend(self.decode(out[row, 1 : len(seq) + 1]) for row, seq in enumerate(part))
        return results

    def __repr__(self) -> str:
        tie = "tied" if self.tied else "untied"
        return (
            f"CompressedModel({self.layout.output!r}: d_model {self.d_full} -> {self.d}, "
            f"{self.mode}, {tie})"
        )


def _num_reads(cfg: ModelConfig, mode: str, tied: bool) -> int:
    return 2 * cfg.num_layers + 1 if mode == "layer" and not tied else 1


# ---------------------------------------------------------------- training data


@dataclass(frozen=True)
class _Output:
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


def _output_spec(model: CompiledModel, program: rasp.SOp, atol: float) -> _Output:
    node = model.layout.output_node
    if node.encoding != "numerical":
        return _Output(False, node.residual, node.values, None, atol)
    return _Output(True, node.residual, (), _numerical_values(model, program), atol)


def _numerical_values(model: CompiledModel, program: rasp.SOp) -> tuple | None:
    """The values a numerical output can take, from the compiler's value-set pass."""
    label = model.layout.output
    if model.compiled is not None:
        found = model.compiled.values.get(label)
    else:
        from compiler.graph import build_graph
        from compiler.values import infer_value_sets

        layout = model.layout
        graph = build_graph(program)
        found = infer_value_sets(graph, frozenset(layout.vocab), layout.max_seq_len).get(
            graph.output
        )
    if not found:
        return None
    numbers = [v for v in found if v is not None]
    return tuple(sorted(numbers, key=float)) or None


@dataclass(frozen=True)
class _Data:
    """Padded inputs and their expected outputs (numpy, one row per input)."""

    ids: np.ndarray  # [rows, T] int32
    valid: np.ndarray  # [rows, T] bool: token positions (not BOS, not padding)
    target: np.ndarray  # [rows, T] int32: class (categorical, None last) or snap index
    value: np.ndarray  # [rows, T] float32: numerical target (0 for categorical)

    def arrays(self) -> dict[str, np.ndarray]:
        return {"ids": self.ids, "valid": self.valid, "target": self.target, "value": self.value}


def _expected(program: rasp.SOp, xs: list[Any], causal: bool) -> list[Any] | None:
    try:
        return rasp.evaluate(program, xs, causal=causal)
    except EvaluationError:
        return None


def _targets(spec: _Output, outputs: list[Any]) -> tuple[list[int], list[float]]:
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


def _build_data(
    model: CompiledModel,
    program: rasp.SOp,
    spec: _Output,
    inputs: Sequence[Sequence[Any]],
) -> _Data:
    enc, width = model.input_encoder, model.model_config.max_seq_len + 1
    n = len(inputs)
    ids = np.full((n, width), enc.pad_id, dtype=np.int32)
    valid = np.zeros((n, width), dtype=bool)
    target = np.zeros((n, width), dtype=np.int32)
    value = np.zeros((n, width), dtype=np.float32)
    causal = model.layout.causal
    for row, xs in enumerate(inputs):
        outputs = _expected(program, list(xs), causal)
        if outputs is None:
            raise RaspcValueError(f"internal: input {xs!r} is outside the program's domain")
        ids[row, : len(xs) + 1] = enc.encode([enc.bos_token, *xs])
        valid[row, 1 : len(xs) + 1] = True
        classes, values = _targets(spec, outputs)
        target[row, 1 : len(xs) + 1] = classes
        value[row, 1 : len(xs) + 1] = values
    return _Data(ids, valid, target, value)


def _random_valid_inputs(
    program: rasp.SOp, layout: ModelLayout, count: int, rng: np.random.Generator
) -> list[list[Any]]:
    """``count`` random inputs the evaluator accepts: a uniform length in
    ``1..max_seq_len``, then uniform tokens; rejected draws are skipped."""
    vocab = list(layout.vocab)
    ok: dict[tuple, bool] = {}
    out: list[list[Any]] = []
    attempts = 0
    while len(out) < count:
        attempts += 1
        if attempts > 50 * count + 1000:
            raise RaspcValueError(
                f"the evaluator rejected all but {len(out)} of {attempts} random inputs; "
                "expected a program that accepts a fair share of random inputs, fix: train on "
                "a vocabulary/max_seq_len where most inputs are valid"
            )
        n = int(rng.integers(1, layout.max_seq_len + 1))
        xs = [vocab[i] for i in rng.integers(0, len(vocab), size=n)]
        key = tuple(xs)
        if key not in ok:
            ok[key] = _expected(program, xs, layout.causal) is not None
        if ok[key]:
            out.append(xs)
    return out


def _valid_inputs(
    program: rasp.SOp, layout: ModelLayout, inputs: Sequence[Sequence[Any]]
) -> tuple[list[list[Any]], int]:
    kept = [list(xs) for xs in inputs if _expected(program, list(xs), layout.causal) is not None]
    return kept, len(inputs) - len(kept)


# ---------------------------------------------------------------- losses and the jitted steps


@dataclass(frozen=True)
class _Static:
    """Everything the jitted functions specialise on (hashable)."""

    cfg: ModelConfig
    pad_id: int
    mode: str
    tied: bool
    orthonormal: bool
    out: _Output
    temperature: float
    batch_size: int
    chunk_steps: int


def _projection(trainable: dict[str, jax.Array], mask: jax.Array, st: _Static) -> dict:
    """The model's projection from the trainable, D-wide padded arrays: columns of
    ``write`` beyond d are masked to zero, so every d shares one compiled step.

    With ``orthonormal``, ``write`` is the Q factor of the trainable matrix (signs
    fixed so that Q moves continuously), so the d live columns are orthonormal and a
    tied round trip is an orthogonal projection.  The trainable matrix itself is
    free; as it grows, a step of the same size turns Q less, a built-in decay."""
    write = trainable["write"]
    if st.orthonormal:
        q, r = jnp.linalg.qr(write)
        write = q * jnp.where(jnp.diag(r) < 0, -1.0, 1.0)[None, :]
    write = write * mask[None, :]  # [D, D] with d live columns
    if st.tied:
        return {"write": write, "read": write.T[None]}
    return {"write": write, "read": trainable["read"] * mask[None, :, None]}


def _scores(out: jax.Array, st: _Static) -> jax.Array:
    return out[..., jnp.asarray(st.out.columns)]  # [B, T, V]


def _output_loss(
    out: jax.Array, ref: jax.Array, batch: dict, hyper: jax.Array, st: _Static
) -> jax.Array:
    valid = batch["valid"].astype(jnp.float32)
    scores = _scores(out, st)
    if st.out.numerical:
        # squared error, plus a hinge where the error nears what decoding tolerates
        # (half the gap to the next possible value): MSE alone spreads its effort
        # over errors that do not matter and leaves a few that do
        err = jnp.abs(scores[..., 0] - batch["value"])
        err = err**2 + hyper[6] * jax.nn.relu(err - st.out.margin) ** 2
    else:
        # the decoder says None when no score reaches NONE_THRESHOLD: a None class
        # whose logit sits at that threshold makes the loss agree with the decoder
        none = jnp.full((*scores.shape[:-1], 1), NONE_THRESHOLD)
        logp = jax.nn.log_softmax(st.temperature * jnp.concatenate([scores, none], -1), -1)
        # targets: the compiled model's own distribution (its argmax is the evaluator's
        # value on every valid input), so the exact model is a stationary point; hard
        # labels would keep rewarding wider margins and push the projection off it
        want = jax.nn.softmax(st.temperature * jnp.concatenate([_scores(ref, st), none], -1))
        err = -(want * logp).sum(-1)
    return (err * valid).sum() / jnp.maximum(valid.sum(), 1.0)


def _layer_loss(comp: dict, batch: dict, st: _Static) -> jax.Array:
    present = (batch["ids"] != st.pad_id).astype(jnp.float32)  # BOS counts: it steers attention
    seen = jnp.stack([comp["embeddings"], *comp["layer_outputs"]], axis=1)  # [B, N+1, T, D]
    err = ((seen - batch["ref_layers"]) ** 2).sum(-1) * present[:, None, :]
    return err.sum() / (seen.shape[1] * jnp.maximum(present.sum(), 1.0))


def _correct(out: jax.Array, batch: dict, st: _Static) -> jax.Array:
    """[B, T] bool: the decoded output is right (padding and BOS count as right)."""
    scores = _scores(out, st)
    if st.out.numerical:
        got = scores[..., 0]
        if st.out.snap is None:
            tol = st.out.atol * jnp.maximum(1.0, jnp.abs(batch["value"]))
            ok = jnp.abs(got - batch["value"]) <= tol
        else:
            snap = jnp.asarray([float(v) for v in st.out.snap])
            ok = jnp.abs(got[..., None] - snap).argmin(-1) == batch["target"]
    else:
        top = scores.max(-1) if scores.shape[-1] else jnp.zeros(scores.shape[:-1])
        best = scores.argmax(-1) if scores.shape[-1] else jnp.zeros(scores.shape[:-1], int)
        pred = jnp.where(top >= NONE_THRESHOLD, best, len(st.out.values))
        ok = pred == batch["target"]
    return ok | ~batch["valid"]


def _losses(
    trainable: dict, params: Params, batch: dict, mask: jax.Array, hyper: jax.Array, st: _Static
):
    kwargs = {"cfg": st.cfg, "pad_id": st.pad_id, "mode": st.mode}
    comp = _forward(params, _projection(trainable, mask, st), batch["ids"], **kwargs)
    lo = _output_loss(comp["output"], batch["ref_output"], batch, hyper, st)
    return lo, _layer_loss(comp, batch, st), comp


@functools.partial(jax.jit, static_argnames=("st",))
def _reference(params: Params, ids: jax.Array, st: _Static) -> dict[str, jax.Array]:
    """What the compiled model writes on ``ids``: the targets of the layer loss and the
    output distribution, computed once per input rather than at every step."""
    out = _forward(params, None, ids, cfg=st.cfg, pad_id=st.pad_id, mode=st.mode)
    layers = jnp.stack([out["embeddings"], *out["layer_outputs"]], axis=1)  # [rows, N+1, T, D]
    return {"ref_layers": layers, "ref_output": out["output"]}


def _optimizer() -> Any:
    optax = _require("optax", "compress")
    # the learning rate is applied by hand (below), so it can change without a recompile
    return optax.chain(optax.clip_by_global_norm(1.0), optax.scale_by_adam())


def _learning_rate(step: jax.Array, hyper: jax.Array) -> jax.Array:
    """Linear warm-up, then cosine decay to a tenth of the peak over ``total`` steps."""
    peak, warmup, total = hyper[2], hyper[3], hyper[4]
    rise = jnp.minimum(1.0, (step + 1.0) / jnp.maximum(warmup, 1.0))
    frac = jnp.clip((step - warmup) / jnp.maximum(total - warmup, 1.0), 0.0, 1.0)
    return peak * rise * (0.1 + 0.9 * 0.5 * (1.0 + jnp.cos(jnp.pi * frac)))


@functools.partial(jax.jit, static_argnames=("st",))
def _train_chunk(trainable, opt_state, key, step, params, data, mask, hyper, st: _Static):
    """``st.chunk_steps`` optimiser steps on random batches drawn from ``data``.

    ``hyper`` = [output_weight, layer_weight, learning_rate, warmup, total_steps,
    anneal_steps, margin_weight].
    """
    import optax

    opt = _optimizer()
    n = data["ids"].shape[0]

    def one(carry, _):
        trainable, opt_state, key, step = carry
        key, sub = jax.random.split(key)
        idx = jax.random.randint(sub, (st.batch_size,), 0, n)
        batch = {k: v[idx] for k, v in data.items()}

        # annealing: the columns beyond d fade out linearly, so training starts from
        # the exact model and is squeezed gradually instead of starting lossy
        fade = jnp.where(hyper[5] > 0, jnp.clip(1.0 - step / jnp.maximum(hyper[5], 1.0), 0, 1), 0)
        soft = jnp.maximum(mask, fade)

        def total(tr):
            lo, ll, _ = _losses(tr, params, batch, soft, hyper, st)
            return hyper[0] * lo + hyper[1] * ll, (lo, ll)

        (loss, (lo, ll)), grads = jax.value_and_grad(total, has_aux=True)(trainable)
        updates, opt_state = opt.update(grads, opt_state, trainable)
        lr = _learning_rate(step, hyper)
        updates = jax.tree_util.tree_map(lambda u: -lr * u, updates)
        trainable = optax.apply_updates(trainable, updates)
        return (trainable, opt_state, key, step + 1.0), jnp.stack([loss, lo, ll])

    carry, losses = jax.lax.scan(
        one, (trainable, opt_state, key, step), None, length=st.chunk_steps
    )
    return (*carry, losses)


@functools.partial(jax.jit, static_argnames=("st",))
def _validate(trainable, params, data, mask, hyper, st: _Static):
    """(loss, sequence accuracy, token accuracy) on all of ``data`` at once."""
    lo, ll, comp = _losses(trainable, params, data, mask, hyper, st)
    ok = _correct(comp["output"], data, st)
    tokens = (ok & data["valid"]).sum() / jnp.maximum(data["valid"].sum(), 1)
    return hyper[0] * lo + hyper[1] * ll, ok.all(-1).mean(), tokens


@functools.partial(jax.jit, static_argnames=("st",))
def _importance(params, data, hyper, st: _Static):
    """The loss with each residual direction removed, one at a time: [D]."""
    d_full = st.cfg.d_model
    eye = jnp.eye(d_full)

    def ablated(i):
        write = eye.at[i, i].set(0.0)
        proj = {"write": write, "read": write.T[None]}
        kwargs = {"cfg": st.cfg, "pad_id": st.pad_id, "mode": st.mode}
        comp = _forward(params, proj, data["ids"], **kwargs)
        lo = _output_loss(comp["output"], data["ref_output"], data, hyper, st)
        return hyper[0] * lo + hyper[1] * _layer_loss(comp, data, st)

    return jax.lax.map(ablated, jnp.arange(d_full))


# ---------------------------------------------------------------- compress


def _check_model(model: Any, program: rasp.SOp | None) -> rasp.SOp:
    if not isinstance(model, CompiledModel):
        raise RaspcTypeError(
            f"compress needs a models.CompiledModel, found {type(model).__name__}; compile the "
            "program with compiler.compile_rasp_to_model (compress the compiled model, not a "
            "compressed one)"
        )
    program = program if program is not None else model.program
    if program is None:
        raise RaspcValueError(
            "compress needs the RASP program to label its training inputs: this model was "
            "loaded without it; pass program=..."
        )
    return program


INITS = ("importance", "random")


def _init(init: str, key: jax.Array, params: Params, sample: dict, hyper: jax.Array, st: _Static):
    """The starting projection: a D x D orthogonal matrix whose first d columns live.

    "importance" orders the residual directions by how much the loss rises when each
    is removed alone, and gives the i-th most important one column i: training
    starts from the exact model and the annealed columns carry the least needed
    directions.  "random" is a random rotation.
    """
    d_full = st.cfg.d_model
    if init == "importance":
        rise = np.asarray(_importance(params, sample, hyper, st))
        order = np.argsort(-rise, kind="stable")
        start = np.zeros((d_full, d_full), np.float32)
        start[order, np.arange(d_full)] = 1.0
        start = jnp.asarray(start)
    else:
        start, _ = jnp.linalg.qr(jax.random.normal(key, (d_full, d_full)))
    trainable = {"write": start.astype(jnp.float32)}
    if not st.tied:
        reads = _num_reads(st.cfg, st.mode, st.tied)
        trainable["read"] = jnp.broadcast_to(start.T, (reads, d_full, d_full))
    return trainable


def _device_data(
    model: CompiledModel, program: rasp.SOp, spec: _Output, inputs: list, st: _Static
) -> dict[str, jax.Array]:
    data = _build_data(model, program, spec, inputs).arrays()
    data = {k: jnp.asarray(v) for k, v in data.items()}
    return {**data, **_reference(model.params, data["ids"], st)}


@dataclass(frozen=True)
class _Run:
    """What one training run needs besides the trainable projection."""

    st: _Static
    params: Params
    data: dict[str, jax.Array]  # the training pool
    val: dict[str, jax.Array]  # validation inputs, scored at every checkpoint
    mask: jax.Array  # [D]: 1 for the d live columns
    hyper: jax.Array


def _fit(run: _Run, trainable: dict, key: jax.Array, chunks: int, settings: dict, bar: Any):
    """The training loop: chunks of jitted steps, a checkpoint after each, early
    stopping; returns the best projection (trainable form) and the history."""
    opt_state = _optimizer().init(trainable)
    step = jnp.float32(0.0)
    losses: list[np.ndarray] = []
    checkpoints: list[dict[str, float]] = []
    best = (-1.0, math.inf)  # (accuracy, loss)
    best_trainable, best_step, since, stopped = trainable, 0, 0, False
    patience, target = settings["patience"], settings["stop_at_accuracy"]
    for _ in range(chunks):
        trainable, opt_state, key, step, chunk_losses = _train_chunk(
            trainable, opt_state, key, step, run.params, run.data, run.mask, run.hyper, run.st
        )
        losses.append(np.asarray(chunk_losses))
        scores = _validate(trainable, run.params, run.val, run.mask, run.hyper, run.st)
        loss, acc, tok = (float(v) for v in scores)
        done = int(step)
        checkpoints.append({"step": done, "accuracy": acc, "token_accuracy": tok, "loss": loss})
        if bar is not None:
            bar.update(run.st.chunk_steps)
            bar.set_postfix(loss=f"{loss:.3g}", acc=f"{acc:.3f}")
        if acc > best[0] or (acc == best[0] and loss < best[1] * (1 - 1e-3)):
            best, best_trainable, best_step, since = (acc, loss), trainable, done, 0
        elif done > settings["anneal"]:  # annealing raises the loss on purpose
            since += 1
        if target is not None and acc >= target:
            stopped = done < chunks * run.st.chunk_steps
            break
        if patience is not None and since >= patience:
            stopped = True
            break
    table = np.concatenate(losses, axis=0) if losses else np.zeros((0, 3))
    history = TrainingHistory(
        loss=table[:, 0].tolist(),
        output_loss=table[:, 1].tolist(),
        layer_loss=table[:, 2].tolist(),
        checkpoints=checkpoints,
        best_step=best_step,
        stopped_early=stopped,
        seconds=0.0,
    )
    return best_trainable, history


def _check_arguments(model: CompiledModel, d: int, settings: dict[str, Any]) -> None:
    d_full = model.model_config.d_model
    if isinstance(d, bool) or not isinstance(d, int) or not 1 <= d <= d_full:
        raise RaspcValueError(
            f"compress: d must be an int in 1..{d_full} (the compiled width), found {d!r}"
        )
    for name, allowed in (("mode", MODES), ("init", INITS)):
        if settings[name] not in allowed:
            raise RaspcValueError(
                f"compress: {name} must be one of {allowed}, found {settings[name]!r}"
            )
    for name in ("steps", "batch_size", "eval_every", "pool_size", "val_size"):
        value = settings[name]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise RaspcValueError(f"compress: {name} must be a positive int, found {value!r}")


def compress(
    model: CompiledModel,
    d: int,
    *,
    seed: int = 0,
    mode: str = "stream",
    tied: bool = True,
    orthonormal: bool = True,
    init: str = "importance",
    program: rasp.SOp | None = None,
    steps: int = 3000,
    batch_size: int = 64,
    learning_rate: float = 0.001,
    warmup: int = 100,
    anneal: int = 1000,
    output_weight: float = 1.0,
    margin_weight: float = 100.0,
    layer_weight: float = 1.0,
    temperature: float = 10.0,
    pool_size: int = 4096,
    val_size: int = 1024,
    eval_every: int = 100,
    patience: int | None = 10,
    stop_at_accuracy: float | None = None,
    atol: float = 1e-2,
    progress: bool = True,
) -> CompressedModel:
    """Learn a ``d``-dimensional residual stream for ``model`` (compiled weights frozen).

    Training draws ``pool_size`` random valid inputs (uniform length, uniform tokens;
    inputs the evaluator rejects are skipped) and samples batches from them; every
    ``eval_every`` steps it scores ``val_size`` other random inputs and keeps the
    projection with the best (accuracy, loss) seen.  It stops after ``steps`` steps
    (rounded up to a multiple of ``eval_every``), after ``patience`` checkpoints
    without improvement (counted once annealing is over), or once the validation
    accuracy reaches ``stop_at_accuracy``.  The same ``seed`` gives the same model.

    How it starts and moves (see the module docstring for the loss, ``mode`` and
    ``tied``):

    * ``init``: "importance" starts from the exact model with the residual directions
      ordered by how much removing each one costs, "random" from a random rotation;
    * ``anneal``: over its first ``anneal`` steps (at most a third of the run) the
      columns beyond ``d`` fade out linearly, so the model is squeezed gradually
      rather than cut at once;
    * ``orthonormal``: keep the write matrix's columns orthonormal.  Compiled heads
      that rely on exact score ties (SelectorWidth gives BOS the same score as the
      selected keys, at a scale of 100) break when a direction's norm drifts by a
      fraction of a percent; an orthonormal projection cannot drift that way, at the
      price of shared directions holding less than a full unit each.
    * ``margin_weight``: numerical outputs add this times a squared hinge on errors
      beyond a quarter of the smallest gap between possible values.

    ``atol`` only matters for a numerical output whose value set the compiler could
    not list; otherwise numerical outputs are scored by their nearest possible value.

    >>> import compiler, models, rasp
    >>> compiled = compiler.compile_rasp_to_model(rasp.tokens == "a", {"a", "b"}, 3)
    >>> small = models.compress(compiled, 3, steps=200, progress=False)
    >>> small.run_batch([["a", "b"]])
    [[True, False]]
    """
    settings = {k: v for k, v in locals().items() if k not in ("model", "d", "program")}
    program = _check_model(model, program)
    _check_arguments(model, d, settings)
    started = time.perf_counter()
    cfg, layout = model.model_config, model.layout
    spec = _output_spec(model, program, atol)
    pool = _random_valid_inputs(program, layout, pool_size, np.random.default_rng([seed, 0]))
    held = _random_valid_inputs(program, layout, val_size, np.random.default_rng([seed, 1]))
    st = _Static(
        cfg=cfg,
        pad_id=model.input_encoder.pad_id,
        mode=mode,
        tied=tied,
        orthonormal=orthonormal,
        out=spec,
        temperature=float(temperature),
        batch_size=batch_size,
        chunk_steps=eval_every,
    )
    chunks = math.ceil(steps / eval_every)
    total = chunks * eval_every
    anneal = min(anneal, total // 3)  # leave most of a short run to the squeezed model
    settings["anneal"] = anneal
    hyper = [output_weight, layer_weight, learning_rate, warmup, total, anneal, margin_weight]
    run = _Run(
        st=st,
        params=model.params,
        data=_device_data(model, program, spec, pool, st),
        val=_device_data(model, program, spec, held, st),
        mask=jnp.asarray(np.arange(cfg.d_model) < d, dtype=jnp.float32),
        hyper=jnp.asarray(hyper, jnp.float32),
    )
    key_init, key = jax.random.split(jax.random.PRNGKey(seed))
    sample = {k: v[:256] for k, v in run.data.items()}
    trainable = _init(init, key_init, model.params, sample, run.hyper, st)
    bar = _progress(total, progress, f"compress {layout.output} to d={d}")
    try:
        best, history = _fit(run, trainable, key, chunks, settings, bar)
    finally:
        if bar is not None:
            bar.close()
    history = dataclasses.replace(history, seconds=time.perf_counter() - started)
    final = jax.tree_util.tree_map(np.asarray, _projection(best, run.mask, st))
    return CompressedModel(
        base=model,
        write=final["write"][:, :d],
        read=final["read"][:, :d, :],
        mode=mode,
        tied=tied,
        output_values=spec.snap,
        settings=settings,
        history=history,
    )


def _progress(total: int, enabled: bool, desc: str) -> Any:
    if not enabled:
        return None
    tqdm = _require("tqdm", "compress").tqdm
    return tqdm(total=total, desc=desc, unit="step", leave=False)


# ---------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class LayerFaithfulness:
    """How close one layer's output in the compressed model is to the original's.

    ``cosine`` is the mean over positions where the original layer writes something
    (NaN if it never does); ``mse`` the mean squared error over positions and all D
    coordinates."""

    name: str
    cosine: float
    mse: float


@dataclass(frozen=True)
class CompressionReport:
    """Exact-match accuracy against the evaluator, and per-layer faithfulness."""

    checked: int  # inputs compared
    out_of_domain: int  # inputs the evaluator rejects (skipped)
    accuracy: float  # fraction of inputs whose whole output is right
    token_accuracy: float  # fraction of positions that are right
    layers: tuple[LayerFaithfulness, ...]
    failures: tuple[tuple[list, list, list], ...]  # first few (input, expected, got)

    def __str__(self) -> str:
        lines = [
            f"{self.checked} inputs ({self.out_of_domain} outside the domain): "
            f"exact {self.accuracy:.2%}, per token {self.token_accuracy:.2%}",
            f"  {'layer':<24} {'cosine':>8} {'mse':>10}",
        ]
        lines += [f"  {f.name:<24} {f.cosine:>8.4f} {f.mse:>10.3g}" for f in self.layers]
        lines += [f"  wrong: {xs} expected {e} got {g}" for xs, e, g in self.failures[:3]]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def evaluate_compression(
    model: CompressedModel,
    inputs: Sequence[Sequence[Any]] | None = None,
    *,
    program: rasp.SOp | None = None,
    samples: int = 2000,
    seed: int = 1,
    atol: float = 1e-4,
    chunk: int = 1024,
) -> CompressionReport:
    """Compare ``model`` with the evaluator (outputs) and with its compiled model (every
    layer's output) on ``inputs``: by default every input up to ``max_seq_len`` when
    there are at most 20,000, otherwise ``samples`` random ones drawn with ``seed``
    (training used other draws).  Inputs the evaluator rejects are skipped."""
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
    layout = model.layout
    if inputs is None:
        inputs = input_space(layout.vocab, layout.max_seq_len, samples=samples, seed=seed)
    kept, skipped = _valid_inputs(program, layout, inputs)
    names = layer_names(model.model_config)
    sq = np.zeros(len(names))
    cos = np.zeros(len(names))
    cos_n = np.zeros(len(names))
    coords = 0
    right = tokens = right_tokens = 0
    failures = []
    for part, out, extras in model.run_chunks(kept, chunk, keep=("embeddings", "layer_outputs")):
        ids = encode_batch(model.input_encoder, part, out.shape[0], model.model_config)
        ref = model.original(ids)
        present = ids != model.input_encoder.pad_id  # [B, T]
        coords += int(present.sum()) * model.d_full
        seen = [extras["embeddings"], *extras["layer_outputs"]]
        want = [np.asarray(ref["embeddings"]), *(np.asarray(a) for a in ref["layer_outputs"])]
        for i, (a, b) in enumerate(zip(seen, want)):
            sq[i] += float((((a - b) ** 2).sum(-1) * present).sum())
            norm_a, norm_b = np.linalg.norm(a, axis=-1), np.linalg.norm(b, axis=-1)
            live = present & (norm_b > 1e-6)
            c = (a * b).sum(-1) / np.maximum(norm_a * norm_b, 1e-12)
            cos[i] += float(c[live].sum())
            cos_n[i] += int(live.sum())
        for row, xs in enumerate(part):
            expected = rasp.evaluate(program, xs, causal=layout.causal)
            got = model.decode(out[row, 1 : len(xs) + 1])
            hits = [values_match(e, g, atol) for e, g in zip(expected, got)]
            tokens += len(hits)
            right_tokens += sum(hits)
            right += all(hits)
            if not all(hits) and len(failures) < 5:
                failures.append((xs, list(expected), got))
    layers = tuple(
        LayerFaithfulness(
            name,
            float(cos[i] / cos_n[i]) if cos_n[i] else math.nan,
            float(sq[i] / coords) if coords else math.nan,
        )
        for i, name in enumerate(names)
    )
    n = len(kept)
    return CompressionReport(
        checked=n,
        out_of_domain=skipped,
        accuracy=right / n if n else math.nan,
        token_accuracy=right_tokens / tokens if tokens else math.nan,
        layers=layers,
        failures=tuple(failures),
    )


# ---------------------------------------------------------------- save and load


def save_compressed(model: CompressedModel, path: str | Path) -> Path:
    """Save ``model`` as a raspc model directory (npz + json, no pickle): the compiled
    model as :func:`models.save_model` writes it, the projection as extra arrays and
    the settings and training history as ``extra`` metadata.  ``models.load_model``
    reads the same directory back as the uncompressed model."""
    from models.io import save_model

    meta = {
        "d": model.d,
        "mode": model.mode,
        "tied": model.tied,
        "output_values": None
        if model.output_values is None
        else [encode_value(v) for v in model.output_values],
        "settings": model.settings,
        "history": None if model.history is None else model.history.to_json(),
    }
    arrays = {"write": model.write}
    if not model.tied:
        arrays["read"] = model.read
    return save_model(model.base, path, extra={_FORMAT_KEY: meta}, arrays=arrays)


def load_compressed(path: str | Path, program: rasp.SOp | None = None) -> CompressedModel:
    """A :class:`CompressedModel` saved by :func:`save_compressed`; attach ``program``
    to evaluate or retrain it."""
    from models.io import load_extra_arrays, load_model, read_metadata

    meta = read_metadata(path)["extra"].get(_FORMAT_KEY)
    if meta is None:
        raise RaspcValueError(
            f"{path} holds a compiled model, not a compressed one (no {_FORMAT_KEY!r} entry in "
            "its extra metadata); load it with models.load_model, or save a compressed model "
            "with models.save_compressed"
        )
    base = load_model(path)
    if program is not None:
        base.program = program
    arrays = load_extra_arrays(path)
    write = arrays["write"]
    read = write.T[None] if meta["tied"] else arrays["read"]
    values = meta["output_values"]
    history = meta["history"]
    return CompressedModel(
        base=base,
        write=write,
        read=read,
        mode=meta["mode"],
        tied=meta["tied"],
        output_values=None if values is None else tuple(decode_value(v) for v in values),
        settings=meta["settings"],
        history=None if history is None else TrainingHistory.from_json(history),
    )
