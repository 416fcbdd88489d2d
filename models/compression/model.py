"""The compressed model: the compiled weights, frozen, run with a squeezed stream.

The forward pass is :mod:`models.transformer`'s own, with a hook between sub-layers
(:data:`models.transformer.Hook`) that squeezes the stream; this module only says
what the hook does and re-expresses the results "as the next reader sees them".

Shapes: B batch, T positions (BOS included), D the compiled width (d_model), d the
compressed width, N sub-layers (two per layer).  The projection is ``write [D, d]``
(``x_small = x_full @ write``) and ``read [R, d, D]`` (``x_full_hat = x_small @
read[i]``), one read matrix per bottleneck (R is 1, or N + 1 in the "layer"
placement untied).  Tied projections read with ``write.T``, as in Tracr's paper.

Placements (``mode``):

* ``"stream"`` (the paper's): the residual stream lives in d dimensions.  The
  embeddings are written through ``write``; every sub-layer reads the stream through
  the read matrix and adds its output back through ``write``; the read-out reads
  through the read matrix.  In the full basis: the stream ``x`` is kept and each
  reader sees ``x @ write @ read``.
* ``"layer"``: the stream stays D wide, and before every sub-layer (and before the
  read-out) it is replaced by its round trip ``x <- x @ write @ read[i]``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import rasp
from compiler.artifact import HookPoint, ModelConfig, ModelLayout, hook_name
from models.compiled import CompiledModel, ModelOutput, padded_chunks
from models.compression.settings import MODES, CompressionSettings
from models.transformer import make_forward
from rasp.errors import RaspcValueError

__all__ = ["CompressedModel", "CompressedOutput", "forward", "layer_names", "num_reads"]

Params = dict[str, dict[str, Any]]


def layer_names(cfg: ModelConfig) -> list[str]:
    """Names of the layers whose outputs are compared, TransformerLens style: the
    embeddings, then each layer's attention and MLP outputs."""
    names = [hook_name(HookPoint.EMBED)]
    for layer in range(cfg.num_layers):
        names += [hook_name(HookPoint.ATTN_OUT, layer), hook_name(HookPoint.MLP_OUT, layer)]
    return names


def num_reads(cfg: ModelConfig, mode: str, tied: bool) -> int:
    """How many read matrices a projection has: one per bottleneck when untied in the
    "layer" placement, else one."""
    return 2 * cfg.num_layers + 1 if mode == "layer" and not tied else 1


def _round_trip(proj: dict[str, jax.Array], site: int) -> jax.Array:
    """``write @ read[site]`` [D, D]: what a reader at ``site`` sees of each direction."""
    read = proj["read"]
    return proj["write"] @ read[min(site, read.shape[0] - 1)]


def _hook(proj: dict[str, jax.Array], mode: str):
    def stream(site: int, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        return x, x @ _round_trip(proj, site)

    def layer(site: int, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        squeezed = x @ _round_trip(proj, site)
        return squeezed, squeezed

    return stream if mode == "stream" else layer


def forward(
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
    ``embeddings`` and ``residuals[i]`` are the stream read through the bottleneck that
    follows, ``layer_outputs[i]`` is sub-layer ``i``'s output read that way, ``output``
    is what the read-out decodes.  ``compressed[i]`` is the d-wide code at each
    bottleneck (empty without ``proj``).
    """
    hook = None if proj is None else _hook(proj, mode)
    out = make_forward(cfg, pad_id, hook)(params, ids)
    if proj is None:
        return {**out, "compressed": []}
    sites = 2 * cfg.num_layers
    trips = [_round_trip(proj, site) for site in range(sites + 1)]
    streams = [out["embeddings"], *out["residuals"]]  # before each squeeze
    return {
        **out,
        "embeddings": out["embeddings"] @ trips[0],
        "residuals": [r @ trips[i + 1] for i, r in enumerate(out["residuals"])],
        "layer_outputs": [o @ trips[i + 1] for i, o in enumerate(out["layer_outputs"])],
        "compressed": [s @ proj["write"] for s in streams],
    }


_jit_forward = jax.jit(forward, static_argnames=("cfg", "pad_id", "mode"))


@dataclass(frozen=True)
class CompressedOutput(ModelOutput):
    """A compressed forward pass: :class:`ModelOutput` (every array in the full basis,
    as the next reader sees it), plus the d-wide code at each bottleneck."""

    compressed: list[jax.Array]  # [1, T, d] per bottleneck


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
    settings: CompressionSettings | None = field(default=None, repr=False)
    history: Any = field(default=None, repr=False)  # a TrainingHistory when trained

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
        expected = (num_reads(self.base.model_config, self.mode, self.tied), self.d, d_full)
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

    @property
    def padded_projection(self) -> dict[str, jax.Array]:
        """``write [D, D]`` and ``read [R, D, D]`` with zero columns beyond d: the form
        the jitted forward pass and the training code use for every d."""
        return self._padded

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
