"""Training the projection: losses, vectorised restarts, checkpoints, :func:`compress`.

Training minimises, on valid inputs,

    output_weight * output_loss + layer_weight * layer_loss

The output loss is, for a categorical output, the cross-entropy over its values plus
a "None" class against the compiled model's own output distribution (whose argmax is
the evaluator's value on every valid input, so the exact model is a stationary
point); for a numerical output, the squared error against the evaluator's value plus
a hinge on errors that approach what decoding tolerates.  The layer loss is the mean
over the embeddings and every sub-layer of ``|seen - original|^2`` per position:
``seen`` is that layer's output as the next reader sees it (through the
bottleneck), ``original`` what the compiled model's layer writes on the same input.

Compiled models are unforgiving: a SelectorWidth head gives BOS exactly the score of
the selected keys at a scale of 100, so a direction whose norm drifts by a fraction
of a percent breaks it; an orthonormal write matrix, started from the exact model
with the directions ordered by importance and squeezed gradually, cannot drift that
way.  Other programs (frac_prevs) gain from the paper's free matrix, started at
random, whose directions may shrink and overlap.  Both kinds are in the default
portfolio: ``restarts`` projections (even ones orthonormal, odd ones free) train
side by side in one ``jax.vmap``-ed step, and the checkpoint with the best
exact-match accuracy (:func:`models.compression.evaluation.correct`) on the
evaluation inputs is kept, whichever kind it is.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import time
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

import rasp
from compiler.artifact import ModelConfig
from models.compiled import CompiledModel
from models.compression.data import (
    InputSet,
    OutputSpec,
    build_data,
    evaluation_inputs,
    output_spec,
    random_valid_inputs,
)
from models.compression.evaluation import correct, scores
from models.compression.model import CompressedModel, forward, num_reads
from models.compression.settings import CompressionSettings
from models.encoders import NONE_THRESHOLD
from rasp.errors import RaspcError, RaspcTypeError, RaspcValueError

__all__ = ["TrainingHistory", "compress"]

Params = dict[str, dict[str, Any]]


def require(module: str, extra: str) -> Any:
    """Import an optional dependency, or say which extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise RaspcError(
            f"{module} is needed here but is not installed; install it with "
            f"`pip install 'raspc[{extra}]'`"
        ) from exc


@dataclass(frozen=True)
class TrainingHistory:
    """What happened while training: the kept restart's loss at every step, and a
    checkpoint every ``eval_every`` steps with every restart's exact-match accuracy on
    the evaluation inputs (``measured_on`` says which)."""

    loss: list[float]  # total loss per step (the kept restart)
    output_loss: list[float]
    layer_loss: list[float]
    checkpoints: list[dict[str, Any]]  # {"step", "accuracy", "token_accuracy", "loss", ...}
    best_step: int  # the checkpoint whose projection was kept
    stopped_early: bool
    seconds: float
    best_restart: int = 0
    restarts: int = 1
    best_orthonormal: bool = True  # the kept restart's kind
    measured_on: str = ""
    best_init: str = ""  # the kept restart's start: "importance", "random" or "warm"
    warm_from: int | None = None  # the width of the warm start, if there was one

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrainingHistory:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


# ---------------------------------------------------------------- the jitted pieces


class _Hyper(NamedTuple):
    """Numbers the jitted steps read at run time (changing them does not recompile);
    inside the vectorised steps each is one restart's scalar."""

    orthonormal: jax.Array  # 1.0: write is the Q factor of the trainable matrix
    output_weight: jax.Array
    layer_weight: jax.Array
    margin_weight: jax.Array
    learning_rate: jax.Array
    warmup: jax.Array
    total: jax.Array
    anneal: jax.Array
    upper: jax.Array  # columns below this start live and fade out (D cold, d' warm)

    @classmethod
    def of(cls, s: CompressionSettings, orthonormal: bool, upper: int) -> _Hyper:
        values = (
            float(orthonormal),
            s.output_weight,
            s.layer_weight if orthonormal else s.free_layer_weight,
            s.margin_weight,
            s.learning_rate if orthonormal else s.free_learning_rate,
            s.warmup,
            s.total_steps,
            s.anneal_steps,
            upper,
        )
        return cls(*(jnp.float32(v) for v in values))

    @classmethod
    def per_restart(cls, s: CompressionSettings, plan: list[_Kind]) -> _Hyper:
        """One row per restart: [R] arrays, in ``plan`` order."""
        rows = [cls.of(s, kind.orthonormal, kind.upper) for kind in plan]
        return cls(*(jnp.stack(column) for column in zip(*rows)))


class _Kind(NamedTuple):
    """How one restart starts: its matrix kind, its initialisation ("importance",
    "random" or "warm") and how many columns are live at step 0."""

    orthonormal: bool
    init: str
    upper: int


def _plan(s: CompressionSettings, d_full: int, warm: _Warm | None) -> list[_Kind]:
    """Every restart's :class:`_Kind`: :meth:`CompressionSettings.restart_kinds`, with the
    first ``ceil(warm_share * restarts)`` restarts started from ``warm`` instead (its
    kind; the rest stay cold, so a poor warm start costs only part of the portfolio)."""
    plan = [_Kind(ortho, init, d_full) for ortho, init in s.restart_kinds()]
    if warm is not None:
        count = min(s.restarts, max(1, int(np.ceil(s.warm_share * s.restarts))))
        plan[:count] = [_Kind(warm.orthonormal, "warm", warm.width)] * count
    return plan


@dataclass(frozen=True)
class _Static:
    """Everything the jitted functions specialise on (hashable)."""

    cfg: ModelConfig
    pad_id: int
    mode: str
    tied: bool
    out: OutputSpec
    temperature: float
    batch_size: int
    chunk_steps: int

    def forward(self, params: Params, proj: dict | None, ids: jax.Array) -> dict[str, Any]:
        return forward(params, proj, ids, cfg=self.cfg, pad_id=self.pad_id, mode=self.mode)


def _projection(trainable: dict[str, jax.Array], mask: jax.Array, hp: _Hyper, st: _Static):
    """The model's projection from the trainable, D-wide padded arrays: columns of
    ``write`` beyond d are masked to zero, so every d shares one compiled step.

    For an orthonormal restart (``hp.orthonormal``), ``write`` is the Q factor of the
    trainable matrix (signs fixed so that Q moves continuously), so the d live columns
    are orthonormal and a tied round trip is an orthogonal projection."""
    write = trainable["write"]
    q, r = jnp.linalg.qr(write)
    q = q * jnp.where(jnp.diag(r) < 0, -1.0, 1.0)[None, :]
    write = jnp.where(hp.orthonormal > 0, q, write)
    write = write * mask[None, :]  # [D, D] with d live columns
    if st.tied:
        return {"write": write, "read": write.T[None]}
    return {"write": write, "read": trainable["read"] * mask[None, :, None]}


def _output_loss(out: jax.Array, ref: jax.Array, batch: dict, hp: _Hyper, st: _Static):
    valid = batch["valid"].astype(jnp.float32)
    got = scores(out, st.out)
    if st.out.numerical:
        # squared error, plus a hinge where the error nears what decoding tolerates:
        # MSE alone spreads its effort over errors that do not matter
        err = jnp.abs(got[..., 0] - batch["value"])
        err = err**2 + hp.margin_weight * jax.nn.relu(err - st.out.margin) ** 2
    else:
        # the decoder says None when no score reaches NONE_THRESHOLD: a None class
        # whose logit sits at that threshold makes the loss agree with the decoder
        none = jnp.full((*got.shape[:-1], 1), NONE_THRESHOLD)
        logp = jax.nn.log_softmax(st.temperature * jnp.concatenate([got, none], -1), -1)
        # soft targets from the compiled model: the exact model is a stationary point
        want = jax.nn.softmax(st.temperature * jnp.concatenate([scores(ref, st.out), none], -1))
        err = -(want * logp).sum(-1)
    return (err * valid).sum() / jnp.maximum(valid.sum(), 1.0)


def _layer_loss(comp: dict, batch: dict, st: _Static) -> jax.Array:
    present = (batch["ids"] != st.pad_id).astype(jnp.float32)  # BOS counts: it steers attention
    seen = jnp.stack([comp["embeddings"], *comp["layer_outputs"]], axis=1)  # [B, N+1, T, D]
    err = ((seen - batch["ref_layers"]) ** 2).sum(-1) * present[:, None, :]
    return err.sum() / (seen.shape[1] * jnp.maximum(present.sum(), 1.0))


def _losses(trainable: dict, params: Params, batch: dict, mask, hp: _Hyper, st: _Static):
    comp = st.forward(params, _projection(trainable, mask, hp, st), batch["ids"])
    lo = _output_loss(comp["output"], batch["ref_output"], batch, hp, st)
    return lo, _layer_loss(comp, batch, st), comp


@functools.partial(jax.jit, static_argnames=("st",))
def _reference(params: Params, ids: jax.Array, st: _Static) -> dict[str, jax.Array]:
    """What the compiled model writes on ``ids``: the targets of the layer loss and the
    output distribution, computed once per input rather than at every step."""
    out = st.forward(params, None, ids)
    layers = jnp.stack([out["embeddings"], *out["layer_outputs"]], axis=1)  # [rows, N+1, T, D]
    return {"ref_layers": layers, "ref_output": out["output"]}


def _optimizer() -> Any:
    optax = require("optax", "compress")
    # the learning rate is applied by hand (below), so it can change without a recompile
    return optax.chain(optax.clip_by_global_norm(1.0), optax.scale_by_adam())


def _learning_rate(step: jax.Array, hp: _Hyper) -> jax.Array:
    """Linear warm-up, then cosine decay to a tenth of the peak over the run."""
    rise = jnp.minimum(1.0, (step + 1.0) / jnp.maximum(hp.warmup, 1.0))
    frac = jnp.clip((step - hp.warmup) / jnp.maximum(hp.total - hp.warmup, 1.0), 0.0, 1.0)
    return hp.learning_rate * rise * (0.1 + 0.9 * 0.5 * (1.0 + jnp.cos(jnp.pi * frac)))


def _chunk(trainable, opt_state, key, step, params, data, mask, hp: _Hyper, st: _Static):
    """``st.chunk_steps`` optimiser steps of one restart on batches drawn from ``data``."""
    optax = require("optax", "compress")
    opt = _optimizer()
    n = data["ids"].shape[0]

    def one(carry, _):
        trainable, opt_state, key, step = carry
        key, sub = jax.random.split(key)
        idx = jax.random.randint(sub, (st.batch_size,), 0, n)
        batch = {k: v[idx] for k, v in data.items()}
        # annealing: the columns beyond d fade out linearly, so training starts from
        # the exact model and is squeezed gradually instead of starting lossy
        fade = jnp.where(hp.anneal > 0, jnp.clip(1.0 - step / jnp.maximum(hp.anneal, 1.0), 0, 1), 0)
        soft = jnp.maximum(mask, fade * (jnp.arange(mask.shape[0]) < hp.upper))

        def total(tr):
            lo, ll, _ = _losses(tr, params, batch, soft, hp, st)
            return hp.output_weight * lo + hp.layer_weight * ll, (lo, ll)

        (loss, (lo, ll)), grads = jax.value_and_grad(total, has_aux=True)(trainable)
        updates, opt_state = opt.update(grads, opt_state, trainable)
        lr = _learning_rate(step, hp)
        trainable = optax.apply_updates(
            trainable, jax.tree_util.tree_map(lambda u: -lr * u, updates)
        )
        return (trainable, opt_state, key, step + 1.0), jnp.stack([loss, lo, ll])

    (trainable, opt_state, key, _), losses = jax.lax.scan(
        one, (trainable, opt_state, key, step), None, length=st.chunk_steps
    )
    return trainable, opt_state, key, losses


@functools.partial(jax.jit, static_argnames=("st",))
def _train_chunks(trainables, opt_states, keys, step, params, data, mask, hp, st: _Static):
    """:func:`_chunk` for every restart at once (leading axis R on the trainables,
    optimiser states, keys and ``hp``)."""
    run = lambda tr, os, k, h: _chunk(tr, os, k, step, params, data, mask, h, st)
    return jax.vmap(run)(trainables, opt_states, keys, hp)


@functools.partial(jax.jit, static_argnames=("st",))
def _validate(trainables, params, data, mask, hp, st: _Static):
    """Per restart [R]: loss, exact-match accuracy and token accuracy on ``data``."""

    def one(tr, h):
        lo, ll, comp = _losses(tr, params, data, mask, h, st)
        ok = correct(comp["output"], data, st.out)
        tokens = (ok & data["valid"]).sum() / jnp.maximum(data["valid"].sum(), 1)
        return h.output_weight * lo + h.layer_weight * ll, ok.all(-1).mean(), tokens

    return jax.vmap(one)(trainables, hp)


@functools.partial(jax.jit, static_argnames=("st",))
def _importance(params, data, proj: dict, hp: _Hyper, st: _Static):
    """The loss with each column of the padded projection ``proj`` removed, one at a
    time: [D] (``proj`` the identity: each residual direction)."""

    def ablated(i):
        keep = jnp.ones(st.cfg.d_model).at[i].set(0.0)
        cut = {"write": proj["write"] * keep[None, :], "read": proj["read"] * keep[None, :, None]}
        comp = st.forward(params, cut, data["ids"])
        lo = _output_loss(comp["output"], data["ref_output"], data, hp, st)
        return hp.output_weight * lo + hp.layer_weight * _layer_loss(comp, data, st)

    return jax.lax.map(ablated, jnp.arange(st.cfg.d_model))


@dataclass(frozen=True)
class _Warm:
    """A warm start: a trained projection of width ``width`` >= d, in trainable form
    (D x D, its columns ordered by importance, the columns beyond ``width`` an
    orthonormal completion that stays masked)."""

    write: np.ndarray  # [D, D]
    read: np.ndarray | None  # [R, D, D] when untied
    width: int
    orthonormal: bool


def _warm(start: Any, d: int, s: CompressionSettings, run: _Run) -> _Warm:
    """``start`` (a :class:`CompressedModel` of the same compiled model, width >= d) as
    a :class:`_Warm`: its columns ordered by how much the loss rises without each, so
    the d most needed stay live and the rest fade out as a cold start's do."""
    if not isinstance(start, CompressedModel):
        raise RaspcTypeError(
            f"compress: start must be a CompressedModel (a wider solution to squeeze "
            f"further), found {type(start).__name__}"
        )
    d_full = run.st.cfg.d_model
    if start.d_full != d_full or start.mode != s.mode or start.tied != s.tied:
        raise RaspcValueError(
            f"compress: start must compress the same model the same way (D={d_full}, "
            f"mode={s.mode!r}, tied={s.tied}), found {start!r}"
        )
    if start.d < d:
        raise RaspcValueError(
            f"compress: start must be at least as wide as d={d}, found d={start.d}; "
            "warm starts squeeze a wider solution"
        )
    orthonormal = bool(getattr(start.history, "best_orthonormal", True))
    sample = {k: v[:256] for k, v in run.data.items()}
    proj = start.padded_projection
    rise = np.asarray(_importance(run.params, sample, proj, _Hyper.of(s, True, d_full), run.st))
    order = np.argsort(-rise[: start.d], kind="stable")
    write = np.asarray(start.write)[:, order]
    # an orthonormal completion keeps the trainable matrix full rank (QR's gradient)
    rng = np.random.default_rng([s.seed, 2])
    filler = rng.standard_normal((d_full, d_full - start.d))
    completion = np.linalg.qr(np.concatenate([write, filler], axis=1))[0][:, start.d :]
    full = np.concatenate([write, completion], axis=1).astype(np.float32)
    read = None
    if not s.tied:
        rows = np.asarray(start.read)[:, order, :]
        read = np.concatenate(
            [rows, np.swapaxes(completion, 0, 1)[None].repeat(rows.shape[0], 0)], axis=1
        ).astype(np.float32)
    return _Warm(full, read, start.d, orthonormal)


# ---------------------------------------------------------------- starts and the loop


def _starts(
    s: CompressionSettings, key: jax.Array, run: _Run, plan: list[_Kind], warm: _Warm | None
):
    """``restarts`` D x D starting matrices whose first d columns live: [R, D, D].

    "importance" orders the residual directions by how much the loss rises when each
    is removed alone and gives the i-th most important one column i (training starts
    from the exact model; the annealed columns carry the least needed directions);
    "random" is a random rotation per restart; "warm" is ``warm``'s matrix.  Every
    "importance" or "warm" restart after the first of its init adds Gaussian noise of
    scale ``init_noise`` (per entry, over sqrt(D)) so they explore other arrangements.
    """
    d_full = run.st.cfg.d_model
    keys = jax.random.split(key, s.restarts)
    bases: dict[str, np.ndarray] = {}
    if any(kind.init == "importance" for kind in plan):
        sample = {k: v[:256] for k, v in run.data.items()}
        eye = jnp.eye(d_full)
        identity = {"write": eye, "read": eye[None]}
        hp = _Hyper.of(s, True, d_full)
        rise = np.asarray(_importance(run.params, sample, identity, hp, run.st))
        order = np.argsort(-rise, kind="stable")
        base = np.zeros((d_full, d_full), np.float32)
        base[order, np.arange(d_full)] = 1.0
        bases["importance"] = base
    if warm is not None:
        bases["warm"] = warm.write
    starts, seen = [], set()
    for kind, k in zip(plan, keys):
        noise = jax.random.normal(k, (d_full, d_full))
        if kind.init in bases:
            scale = s.init_noise / np.sqrt(d_full) if kind.init in seen else 0.0
            starts.append(jnp.asarray(bases[kind.init]) + scale * noise)
            seen.add(kind.init)
        else:
            starts.append(jnp.linalg.qr(noise)[0])
    starts = jnp.stack(starts)
    trainable = {"write": starts.astype(jnp.float32)}
    if not run.st.tied:
        reads = num_reads(run.st.cfg, run.st.mode, run.st.tied)
        cold = jnp.broadcast_to(
            jnp.swapaxes(starts, 1, 2)[:, None], (s.restarts, reads, d_full, d_full)
        )
        if warm is not None:
            is_warm = jnp.asarray([kind.init == "warm" for kind in plan])[:, None, None, None]
            cold = jnp.where(is_warm, jnp.asarray(warm.read)[None], cold)
        trainable["read"] = cold
    return trainable


@dataclass(frozen=True)
class _Run:
    """What one training run needs besides the trainable projections."""

    settings: CompressionSettings
    st: _Static
    params: Params
    data: dict[str, jax.Array]  # the training pool
    val: dict[str, jax.Array]  # the evaluation inputs, scored at every checkpoint
    val_set: InputSet
    mask: jax.Array  # [D]: 1 for the d live columns
    plan: list[_Kind]  # every restart's kind, init and live columns at step 0
    hp: _Hyper


@dataclass
class _Best:
    accuracy: float = -1.0
    loss: float = float("inf")
    restart: int = 0
    step: int = 0
    trainable: dict = field(default_factory=dict)

    def offer(self, acc: np.ndarray, loss: np.ndarray, step: int, trainables: dict) -> bool:
        """Keep restart ``r``'s projection if it beats the best (accuracy, then loss)."""
        r = int(np.lexsort((loss, -acc))[0])
        better = acc[r] > self.accuracy or (
            acc[r] == self.accuracy and loss[r] < self.loss * (1 - 1e-3)
        )
        if better:
            self.accuracy, self.loss, self.restart, self.step = (
                float(acc[r]),
                float(loss[r]),
                r,
                step,
            )
            self.trainable = jax.tree_util.tree_map(lambda a: a[r], trainables)
        return bool(better)


def _fit(run: _Run, trainables: dict, key: jax.Array, bar: Any):
    """The loop: chunks of jitted, vectorised steps, a checkpoint after each, early
    stopping; returns the best projection (trainable form) and the history."""
    s = run.settings
    opt_states = jax.vmap(_optimizer().init)(trainables)
    keys = jax.random.split(key, s.restarts)
    step = jnp.float32(0.0)
    losses, checkpoints, best = [], [], _Best()
    since, stopped, mark = 0, False, -1.0
    for _ in range(s.chunks):
        trainables, opt_states, keys, chunk_losses = _train_chunks(
            trainables, opt_states, keys, step, run.params, run.data, run.mask, run.hp, run.st
        )
        step = step + s.eval_every
        losses.append(np.asarray(chunk_losses))  # [R, steps, 3]
        loss, acc, tok = (
            np.asarray(v)
            for v in _validate(trainables, run.params, run.val, run.mask, run.hp, run.st)
        )
        done = int(step)
        best.offer(acc, loss, done, trainables)
        r = int(np.lexsort((loss, -acc))[0])
        checkpoints.append(
            {
                "step": done,
                "accuracy": float(acc[r]),
                "token_accuracy": float(tok[r]),
                "loss": float(loss[r]),
                "restart": r,
                "accuracies": acc.tolist(),
            }
        )
        if bar is not None:
            bar.update(s.eval_every)
            bar.set_postfix(loss=f"{best.loss:.3g}", best_exact=f"{best.accuracy:.4f}")
        # patience: checkpoints (once annealing is over) since the kept accuracy last
        # rose by min_delta; a loss creeping down does not count, nor do 1-input gains
        if mark < 0 or best.accuracy >= mark + max(s.min_delta, 1e-12):
            mark, since = best.accuracy, 0
        else:
            since += done > s.anneal_steps
        if s.stop_at_accuracy is not None and best.accuracy >= s.stop_at_accuracy:
            stopped = done < s.total_steps
            break
        if s.patience is not None and since >= s.patience:
            stopped = True
            break
    table = np.concatenate(losses, axis=1)[best.restart] if losses else np.zeros((0, 3))
    history = TrainingHistory(
        loss=table[:, 0].tolist(),
        output_loss=table[:, 1].tolist(),
        layer_loss=table[:, 2].tolist(),
        checkpoints=checkpoints,
        best_step=best.step,
        stopped_early=stopped,
        seconds=0.0,
        best_restart=best.restart,
        restarts=s.restarts,
        best_orthonormal=run.plan[best.restart].orthonormal,
        measured_on=run.val_set.describe(),
        best_init=run.plan[best.restart].init,
    )
    return best.trainable, history


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


def _device_data(model: CompiledModel, program, spec, inputs: list, st: _Static) -> dict:
    data = {k: jnp.asarray(v) for k, v in build_data(model, program, spec, inputs).arrays().items()}
    return {**data, **_reference(model.params, data["ids"], st)}


def _prepare(model: CompiledModel, program: rasp.SOp, d: int, s: CompressionSettings) -> _Run:
    layout = model.layout
    spec = output_spec(model, s.atol)
    st = _Static(
        cfg=model.model_config,
        pad_id=model.input_encoder.pad_id,
        mode=s.mode,
        tied=s.tied,
        out=spec,
        temperature=float(s.temperature),
        batch_size=s.batch_size,
        chunk_steps=s.eval_every,
    )
    plan = _plan(s, model.model_config.d_model, None)
    val_set = evaluation_inputs(program, layout, s)
    if val_set.exhaustive:
        pool = val_set.inputs  # keep a known function on every input there is
    else:
        rng = np.random.default_rng([s.seed, 0])
        pool = random_valid_inputs(program, layout, s.pool_size, rng)
    val = _device_data(model, program, spec, val_set.inputs, st)
    return _Run(
        settings=s,
        st=st,
        params=model.params,
        data=_device_data(model, program, spec, pool, st) if pool is not val_set.inputs else val,
        val=val,
        val_set=val_set,
        mask=jnp.asarray(np.arange(model.model_config.d_model) < d, dtype=jnp.float32),
        plan=plan,
        hp=_Hyper.per_restart(s, plan),
    )


def compress(
    model: CompiledModel,
    d: int,
    settings: CompressionSettings | None = None,
    *,
    program: rasp.SOp | None = None,
    start: CompressedModel | None = None,
    progress: bool = True,
    **changes: Any,
) -> CompressedModel:
    """Learn a ``d``-dimensional residual stream for ``model`` (compiled weights frozen).

    ``settings`` (default :class:`CompressionSettings()`) with ``changes`` applied by
    name (``compress(model, 6, steps=500)``) says how; see its docstring.  Training
    runs ``restarts`` projections at once and keeps, over all of them and all
    checkpoints, the one with the best exact-match accuracy on the evaluation inputs
    (every valid input when enumerable): the accuracy the progress bar, the history and
    :func:`models.evaluate_compression` report.  It stops after ``steps``, after
    ``patience`` checkpoints in which that accuracy did not rise by ``min_delta``
    (counted once annealing is over: the accuracy has plateaued), or
    once that accuracy reaches ``stop_at_accuracy``.  The same settings give the same
    model.

    ``start``, a wider compressed model of the same compiled model (a solution at
    some d' >= d), warm-starts the first ``warm_share`` of the restarts from it: its
    d most important columns stay and the rest fade out.  Squeezing a working
    solution one or two columns further is much easier than finding one from
    scratch; :func:`models.compression.sweep.sweep` chains its cells this way.

    >>> import compiler, models, rasp
    >>> compiled = compiler.compile_rasp_to_model(rasp.tokens == "a", {"a", "b"}, 3)
    >>> small = models.compress(compiled, 3, steps=200, restarts=2, progress=False)
    >>> small.run_batch([["a", "b"]])
    [[True, False]]
    """
    s = (settings or CompressionSettings()).replace(**changes)
    program = _check_model(model, program)
    d_full = model.model_config.d_model
    if isinstance(d, bool) or not isinstance(d, int | np.integer) or not 1 <= d <= d_full:
        raise RaspcValueError(
            f"compress: d must be an int in 1..{d_full} (the compiled width), found {d!r}"
        )
    d = int(d)
    started = time.perf_counter()
    run = _prepare(model, program, d, s)
    warm = None if start is None else _warm(start, d, s, run)
    if warm is not None:
        plan = _plan(s, d_full, warm)
        run = dataclasses.replace(run, plan=plan, hp=_Hyper.per_restart(s, plan))
    key = jax.random.PRNGKey(s.seed)
    key_init, key = jax.random.split(key if s.trial == 0 else jax.random.fold_in(key, s.trial))
    trainables = _starts(s, key_init, run, run.plan, warm)
    bar = _progress(s.total_steps, progress, f"compress {model.layout.output} to d={d}", run)
    try:
        best, history = _fit(run, trainables, key, bar)
    finally:
        if bar is not None:
            bar.close()
    history = dataclasses.replace(
        history,
        seconds=time.perf_counter() - started,
        warm_from=None if warm is None else warm.width,
    )
    hp = jax.tree_util.tree_map(lambda a: a[history.best_restart], run.hp)
    final = jax.tree_util.tree_map(np.asarray, _projection(best, run.mask, hp, run.st))
    return CompressedModel(
        base=model,
        write=final["write"][:, :d],
        read=final["read"][:, :d, :],
        mode=s.mode,
        tied=s.tied,
        output_values=run.st.out.snap,
        settings=s,
        history=history,
    )


def _progress(total: int, enabled: bool, desc: str, run: _Run) -> Any:
    if not enabled:
        return None
    tqdm = require("tqdm", "compress").tqdm
    desc = f"{desc} ({run.settings.restarts} restarts; exact on {run.val_set.describe()})"
    return tqdm(total=total, desc=desc, unit="step", leave=False)
