"""Run a compiled model and keep every activation under TransformerLens's hook names.

Interpretability code is written against TransformerLens's names
(``blocks.0.attn.hook_pattern``, ``blocks.1.hook_resid_post``, ...) and its
shapes (batch first; ``[batch, head, query_pos, key_pos]`` for patterns), so
:func:`run_with_cache` returns exactly those, from our own forward pass: the
same code then runs on a compiled model here and on its TransformerLens export
(:mod:`models.tl_export`), and the compiler's ground truth says what each
activation should hold.  :meth:`ActivationCache.decode` reads any residual
activation (or a component's output) back into the values of the program's
nodes.  Hook names come from :mod:`compiler.artifact` (``hook_name``,
``hook_names``), the one place that spells them.

Shape vocabulary: B batch, T positions (BOS included), D d_model, H heads,
K d_head, M MLP width, V output values.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from compiler.artifact import (
    ComponentKind,
    HookPoint,
    ModelLayout,
    ParamModule,
    hook_name,
    hook_names,
    hook_sublayer,
    param_path,
    parse_hook,
    resid_hook,
)
from compiler.circuit import EMBEDDING_OF
from models.decode import decode_directions, decode_stream
from rasp.errors import RaspcValueError

__all__ = ["ActivationCache", "hook_names", "run_with_cache", "token_ids", "unembed_matrix"]


_EMBEDDING_HOOKS = {HookPoint.EMBED: "embed", HookPoint.POS_EMBED: "pos_embed"}
"""Each embedding hook and the circuit component (``EMBEDDING_OF``'s names) it holds."""


def unembed_matrix(layout: ModelLayout) -> np.ndarray:
    """``W_U [D, V]``: the read-out that turns the final residual stream into logits.

    Categorical output: one column per output value (in the output encoder's
    order) selecting that value's direction, so the argmax of the logits is the
    decoded value (a position whose logits are all ~0 decodes as None).
    Numerical output: one column holding the output direction, so the single
    logit is the value.
    """
    out = layout.output_node
    matrix = np.zeros((len(layout.residual_labels), max(1, len(out.residual))), np.float32)
    for col, row in enumerate(out.residual):
        matrix[row, col] = 1.0
    return matrix


def token_ids(model: Any, tokens: Any) -> np.ndarray:
    """Token ids ``[B, T]`` for ``tokens``: one input starting with BOS (as for
    ``model.apply``), a list of such inputs (shorter ones are padded with PAD), or
    an integer array of ids ``[T]`` / ``[B, T]`` used as given."""
    enc = model.input_encoder
    if hasattr(tokens, "shape") and hasattr(tokens, "dtype"):
        ids = np.asarray(tokens)
        if ids.ndim == 1:
            ids = ids[None]
        if ids.ndim != 2 or not np.issubdtype(ids.dtype, np.integer):
            raise RaspcValueError(
                f"token ids must be an integer array [T] or [B, T], found {ids.dtype} array of "
                f"shape {ids.shape}; pass tokens as a list, e.g. [{enc.bos_token!r}, ...]"
            )
        return ids.astype(np.int32)
    tokens = list(tokens)
    if tokens and _is_input(tokens, enc.bos_token):
        batch = [tokens]
    elif tokens and all(isinstance(t, Sequence) and not isinstance(t, str) for t in tokens):
        batch = [list(t) for t in tokens]
    else:
        raise RaspcValueError(
            f"expected one input starting with the BOS token {enc.bos_token!r} or a list of "
            f"such inputs, found {tokens[:3]!r}; prepend the BOS token: "
            f"[{enc.bos_token!r}, *tokens]"
        )
    width = max(len(seq) for seq in batch)
    ids = np.full((len(batch), width), enc.pad_id, dtype=np.int32)
    for row, seq in enumerate(batch):
        ids[row, : len(seq)] = enc.encode(seq)
    return ids


def _is_input(tokens: list, bos: Any) -> bool:
    first = tokens[0]
    return not isinstance(first, (list, tuple)) and first == bos


@dataclass(frozen=True)
class ActivationCache(Mapping[str, np.ndarray]):
    """Activations by TransformerLens hook name (numpy, batch first), plus what is
    needed to read them as program values."""

    activations: dict[str, np.ndarray] = field(repr=False)
    layout: ModelLayout = field(repr=False)
    num_layers: int
    token_ids: np.ndarray  # [B, T]
    pad_id: int

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self.activations:
            raise KeyError(
                f"no activation {name!r}; this cache holds {len(self.activations)} hooks, e.g. "
                f"{list(self.activations)[:4]} (see models.cache.hook_names)"
            )
        return self.activations[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.activations)

    def __len__(self) -> int:
        return len(self.activations)

    def lengths(self) -> list[int]:
        """Input tokens per batch row (BOS and padding not counted)."""
        return [int(n) - 1 for n in (self.token_ids != self.pad_id).sum(axis=1)]

    def decode(self, name: str, batch: int = 0, *, head: int | None = None) -> dict[str, list]:
        """The node values held by activation ``name`` for one batch row, one value per
        input token (BOS and padding dropped, as ``rasp.evaluate`` gives them).

        A residual hook (``hook_resid_pre/mid/post``) gives every node written so far;
        a sub-layer's output (``hook_attn_out``, ``hook_mlp_out``) or an embedding
        (``hook_embed``, ``hook_pos_embed``) gives the nodes it writes; a head's
        ``attn.hook_result`` (pass ``head``) gives the nodes that head writes.
        """
        stream = self[name]
        n = self.lengths()[batch]
        point, layer = parse_hook(name)
        if point == HookPoint.ATTN_RESULT:
            if head is None:
                raise RaspcValueError(f"decoding {name!r} needs head=...: it holds every head")
            labels = [
                label
                for label, node in self.layout.nodes.items()
                if node.components
                and node.components[-1].kind == ComponentKind.ATTN
                and (node.components[-1].layer, node.components[-1].start) == (layer, head)
            ]
            residual = stream[batch, :, head]
            values = {label: decode_directions(self.layout, label, residual) for label in labels}
        elif point in _EMBEDDING_HOOKS:
            labels = [
                label
                for label, node in self.layout.nodes.items()
                if node.ready < 0 and EMBEDDING_OF.get(node.kind) == _EMBEDDING_HOOKS[point]
            ]
            values = {
                label: decode_directions(self.layout, label, stream[batch]) for label in labels
            }
        elif point in (HookPoint.ATTN_OUT, HookPoint.MLP_OUT):
            sublayer = 2 * layer + (point == HookPoint.MLP_OUT)
            values = decode_stream(self.layout, stream[batch], sublayer, only_new=True)
        else:
            sublayer = hook_sublayer(name, self.num_layers)
            values = decode_stream(self.layout, stream[batch], sublayer)
        return {label: v[1 : n + 1] for label, v in values.items()}

    def decode_node(self, label: str, batch: int = 0) -> list:
        """Node ``label``'s values, read from the residual stream right after the
        sub-layer that writes it (BOS and padding dropped)."""
        if label not in self.layout.nodes:
            raise RaspcValueError(
                f"no node {label!r} in this model; its nodes are {list(self.layout.nodes)}"
            )
        ready = self.layout.nodes[label].ready
        name = resid_hook(ready)
        n = self.lengths()[batch]
        return decode_directions(self.layout, label, self[name][batch])[1 : n + 1]


def run_with_cache(model: Any, tokens: Any) -> tuple[np.ndarray, ActivationCache]:
    """Run ``model`` on ``tokens`` and return ``(logits [B, T, V], cache)``.

    ``tokens``: one input starting with BOS, a list of them, or token ids (see
    :func:`token_ids`).  ``logits`` is the final residual stream times
    :func:`unembed_matrix`, what a TransformerLens export of the model returns.

    >>> import rasp, compiler
    >>> from rasp import lib
    >>> model = compiler.compile_rasp_to_model(lib.make_reverse(rasp.tokens), {"a", "b"}, 3)
    >>> logits, cache = run_with_cache(model, ["compiler_bos", "a", "b", "b"])
    >>> logits.shape, cache["blocks.2.attn.hook_pattern"].shape
    ((1, 4, 2), (1, 1, 4, 4))
    >>> cache.decode("blocks.0.hook_resid_post")["length"]
    [3, 3, 3]
    """
    ids = token_ids(model, tokens)
    cfg, layout = model.model_config, model.layout
    forward = getattr(model, "_jitted", None) or model.forward  # jitted once per model
    raw = forward(model.params, ids)
    out = {k: _numpy(v) for k, v in raw.items()}
    b, t = ids.shape
    h, d = cfg.num_heads, cfg.d_model
    mask = (ids != model.input_encoder.pad_id)[:, None, None, :]  # [B, 1, 1, T]
    if cfg.causal:
        mask = mask & np.tril(np.ones((t, t), dtype=bool))[None, None]
    acts: dict[str, np.ndarray] = {
        hook_name(HookPoint.EMBED): out["token_embed"],
        hook_name(HookPoint.POS_EMBED): np.broadcast_to(out["pos_embed"], (b, t, d)).copy(),
    }
    streams = [out["embeddings"], *out["residuals"]]
    for layer in range(cfg.num_layers):
        w_o = np.asarray(model.params[param_path(ParamModule.ATTN_OUT, layer)]["w"])
        z = out["attn_z"][layer]  # [B, T, H, K]
        per_layer = {
            HookPoint.RESID_PRE: streams[2 * layer],
            HookPoint.ATTN_Q: out["attn_q"][layer],
            HookPoint.ATTN_K: out["attn_k"][layer],
            HookPoint.ATTN_V: out["attn_v"][layer],
            HookPoint.ATTN_SCORES: np.where(mask, out["attn_logits"][layer], -np.inf),
            HookPoint.ATTN_PATTERN: out["attn_patterns"][layer],
            HookPoint.ATTN_Z: z,
            HookPoint.ATTN_RESULT: np.einsum("bthk,hkd->bthd", z, w_o.reshape(h, -1, d)),
            HookPoint.ATTN_OUT: out["layer_outputs"][2 * layer],
            HookPoint.RESID_MID: streams[2 * layer + 1],
            HookPoint.MLP_PRE: out["mlp_pre"][layer],
            HookPoint.MLP_POST: out["mlp_hidden"][layer],
            HookPoint.MLP_OUT: out["layer_outputs"][2 * layer + 1],
            HookPoint.RESID_POST: streams[2 * layer + 2],
        }
        acts |= {hook_name(point, layer): act for point, act in per_layer.items()}
    logits = out["output"] @ unembed_matrix(layout)
    cache = ActivationCache(
        activations={name: acts[name] for name in hook_names(cfg.num_layers)},
        layout=layout,
        num_layers=cfg.num_layers,
        token_ids=ids,
        pad_id=model.input_encoder.pad_id,
    )
    return logits, cache


def _numpy(value: Any) -> Any:
    if isinstance(value, list):
        return [np.asarray(v) for v in value]
    return np.asarray(value)
