"""A compiled model: parameters, layout, encoders, and ways to run it.

``CompiledModel`` keeps Tracr's interface (``params``, ``model_config``,
``residual_labels``, ``input_encoder``, ``output_encoder``, ``apply``), so
tools written for Tracr models load it, and adds a batched, jitted path.  It
needs only plain data (params, config, :class:`compiler.artifact.ModelLayout`),
so a model loaded from disk works like a freshly compiled one; the RASP
program is attached when known (for verification).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import rasp
from compiler.artifact import Encoding, ModelConfig, ModelLayout
from compiler.compiling import CompiledProgram
from models.encoders import CategoricalOutputEncoder, InputEncoder, NumericalOutputEncoder
from models.transformer import make_forward
from rasp.errors import RaspcValueError

__all__ = ["CompiledModel", "ModelOutput", "ACTIVATION_BUDGET"]

ACTIVATION_BUDGET = 1 << 29
"""Bytes of activations one batched chunk may hold (512 MiB): big models run in
smaller chunks instead of exhausting memory."""


@dataclass(frozen=True)
class ModelOutput:
    """One forward pass.  Arrays have a leading batch axis of 1 (as Tracr's)."""

    decoded: list[Any]  # [T]: BOS, then the program's value at each token
    residuals: list[jax.Array]  # per sub-layer, [1, T, D], after that sub-layer
    layer_outputs: list[jax.Array]  # per sub-layer, [1, T, D], what it added
    attn_logits: list[jax.Array]  # per layer, [1, H, T, T]
    attn_patterns: list[jax.Array]  # per layer, [1, H, T, T]
    mlp_hidden: list[jax.Array]  # per layer, [1, T, M]
    input_embeddings: jax.Array  # [1, T, D]
    transformer_output: jax.Array  # [1, T, D]

    @classmethod
    def from_forward(cls, out: dict[str, Any], decoded: list[Any], bos: Any, **extra: Any):
        """The output of one forward pass ``out`` (the transformer's dict), whose output
        decodes to ``decoded`` (BOS's own slot is replaced by ``bos``)."""
        return cls(
            decoded=[bos, *decoded[1:]],
            residuals=out["residuals"],
            layer_outputs=out["layer_outputs"],
            attn_logits=out["attn_logits"],
            attn_patterns=out["attn_patterns"],
            mlp_hidden=out["mlp_hidden"],
            input_embeddings=out["embeddings"],
            transformer_output=out["output"],
            **extra,
        )


def bucket(n: int, cap: int) -> int:
    """Pad sizes to powers of two so each bucket compiles once."""
    size = 1
    while size < n:
        size *= 2
    return min(size, cap)


def encode_batch(enc: InputEncoder, part: list[list[Any]], rows: int, cfg: ModelConfig):
    """Token ids ``[max(rows, len(part)), T]`` for inputs without BOS, PAD-filled, with
    ``T`` the power-of-two bucket of the longest input plus BOS."""
    longest = max((len(s) for s in part), default=0)
    width = bucket(longest + 1, cfg.max_seq_len + 1)
    ids = np.full((max(rows, len(part)), width), enc.pad_id, dtype=np.int32)
    for row, seq in enumerate(part):
        ids[row, : len(seq) + 1] = enc.encode([enc.bos_token, *seq])
    return ids


def chunk_limit(cfg: ModelConfig, length: int) -> int:
    """Sequences per chunk so one chunk's activations stay near ACTIVATION_BUDGET."""
    t = bucket(length, cfg.max_seq_len + 1)
    per_seq = (
        4
        * t
        * cfg.num_layers
        * (3 * cfg.d_model + 2 * cfg.mlp_hidden_size + 4 * cfg.num_heads * (t + cfg.key_size))
    )
    size = 1
    while size * 2 * per_seq <= ACTIVATION_BUDGET and size < 4096:
        size *= 2
    return size


def padded_chunks(
    batch: Sequence[Sequence[Any]],
    chunk: int,
    enc: InputEncoder,
    cfg: ModelConfig,
    run: Callable[[np.ndarray], dict[str, Any]],
    keep: Sequence[str] = (),
):
    """Run ``batch`` (inputs without BOS, mixed lengths) through ``run(ids)`` in padded
    chunks; yields ``(inputs, output [B, T, D], extras)`` with the intermediates named in
    ``keep`` as numpy arrays.  Lengths and batch sizes are padded to powers of two, so
    repeated calls reuse a handful of jitted shapes instead of recompiling."""
    chunk = min(chunk, chunk_limit(cfg, max((len(s) for s in batch), default=0) + 1))
    for start in range(0, len(batch), chunk):
        part = [list(seq) for seq in batch[start : start + chunk]]
        out = run(encode_batch(enc, part, bucket(len(part), chunk), cfg))
        extras = {name: jax.tree_util.tree_map(np.asarray, out[name]) for name in keep}
        yield part, np.asarray(out["output"]), extras


@dataclass
class CompiledModel:
    """A runnable compiled transformer with Tracr's attributes."""

    params: dict[str, dict[str, jax.Array]] = field(repr=False)
    model_config: ModelConfig
    layout: ModelLayout = field(repr=False)
    program: rasp.SOp | None = field(default=None, repr=False)
    compiled: CompiledProgram | None = field(default=None, repr=False)

    @classmethod
    def from_compiled(cls, compiled: CompiledProgram) -> CompiledModel:
        return cls(
            params=compiled.params,
            model_config=compiled.config,
            layout=compiled.layout,
            program=compiled.program,
            compiled=compiled,
        )

    def __post_init__(self) -> None:
        self.params = {
            k: {n: jnp.asarray(a, dtype=jnp.float32) for n, a in v.items()}
            for k, v in self.params.items()
        }
        layout = self.layout
        self.residual_labels = list(layout.residual_labels)
        self.input_encoder = InputEncoder(
            layout.input_encoding, layout.bos, layout.pad, layout.max_seq_len
        )
        out = layout.output_node
        if out.encoding == Encoding.NUMERICAL:
            self.output_encoder = NumericalOutputEncoder(out.residual)
        else:
            self.output_encoder = CategoricalOutputEncoder(out.values, out.residual)
        self.forward = make_forward(self.model_config, self.input_encoder.pad_id)
        self._jitted = jax.jit(self.forward)

    def _unpadded(self, tokens: Sequence[Any]) -> tuple[list[Any], int]:
        """``tokens`` without the ``compiler_pad`` tokens that end it, and how many there
        were; PAD anywhere else is refused (it would hide the tokens after it)."""
        tokens = list(tokens)
        pad = self.input_encoder.pad_token
        real = len(tokens)
        while real and tokens[real - 1] == pad:
            real -= 1
        inside = next((i for i, tok in enumerate(tokens[:real]) if tok == pad), None)
        if inside is not None:
            raise RaspcValueError(
                f"the padding token {pad!r} at position {inside} is followed by real tokens; "
                "padding may only fill the end of a sequence"
            )
        if real < len(tokens) and len(tokens) - 1 > self.input_encoder.max_seq_len:
            raise RaspcValueError(
                f"the input has {len(tokens)} tokens with BOS and padding, but the model was "
                f"compiled for at most {self.input_encoder.max_seq_len + 1}; pad less or "
                "recompile with a larger max_seq_len"
            )
        return tokens[:real], len(tokens) - real

    def apply(self, tokens: Sequence[Any]) -> ModelOutput:
        """Run one input that starts with BOS: ``model.apply(["compiler_bos", *tokens])``.

        As in Tracr, the input may end with ``compiler_pad`` tokens (to batch inputs of
        several lengths at one width): padded positions are masked out of every
        attention, so the real positions decode as without padding; the padded ones
        decode as None.
        """
        real, n_pad = self._unpadded(tokens)
        ids = self.input_encoder.encode(real) + [self.input_encoder.pad_id] * n_pad
        out = self._jitted(self.params, np.asarray([ids]))
        decoded = self.output_encoder.decode(np.asarray(out["output"][0]))
        if n_pad:
            decoded = [*decoded[: len(real)], *([None] * n_pad)]
        return ModelOutput.from_forward(out, decoded, self.input_encoder.bos_token)

    def run_chunks(
        self, batch: Sequence[Sequence[Any]], chunk: int = 1024, keep: Sequence[str] = ()
    ):
        """Run many inputs (without BOS, mixed lengths) in padded chunks; yields
        ``(inputs, output [B, T, D], extras)`` where ``extras`` holds the named
        intermediates in ``keep`` (e.g. "residuals") as numpy arrays (see
        :func:`padded_chunks`)."""
        run = lambda ids: self._jitted(self.params, ids)
        yield from padded_chunks(batch, chunk, self.input_encoder, self.model_config, run, keep)

    def run_batch(self, batch: Sequence[Sequence[Any]], chunk: int = 1024) -> list[list[Any]]:
        """Decoded outputs for many inputs *without* BOS (``[[t1, t2, ...], ...]``), of
        any mixed lengths; each returned list has one value per input token.  Inputs may
        end with ``compiler_pad`` tokens (as in :meth:`apply`): those positions give None."""
        bos = self.input_encoder.bos_token
        pads = []
        unpadded = []
        for seq in batch:
            real, n_pad = self._unpadded([bos, *seq])
            unpadded.append(real[1:])
            pads.append(n_pad)
        results: list[list[Any]] = []
        row0 = 0
        for part, out, _ in self.run_chunks(unpadded, chunk):
            for row, seq in enumerate(part):
                values = self.output_encoder.decode(out[row, 1 : len(seq) + 1])
                results.append([*values, *([None] * pads[row0 + row])])
            row0 += len(part)
        return results

    def __repr__(self) -> str:
        c = self.model_config
        return (
            f"CompiledModel({self.layout.output!r}: {c.num_layers} layers, "
            f"{c.num_heads} heads, d_model {c.d_model}, MLP width {c.mlp_hidden_size})"
        )
