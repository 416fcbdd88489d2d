"""Pass 7: emit the model's parameters as numpy arrays, with Tracr's layout.

Names and shapes are the artifact's (:func:`compiler.artifact.param_path`,
:func:`compiler.artifact.param_shapes`): Haiku's paths, so tools written for Tracr
models (TransformerLens's adapter first) read ours.  Biases are zero: the ``one``
direction is the bias.  The config (:class:`compiler.artifact.ModelConfig`) is
derived here from the schedule.

Each head's bilinear ``w_qk`` (and ``w_ov``) is split into two factors with
the identity on its smaller side, so a head needs ``min(rows, cols)`` of the
key size; the model divides logits by ``sqrt(K)``, which the query side undoes.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

import rasp
from compiler.artifact import ModelConfig, ParamModule, Params, param_path
from compiler.basis import ONE, Direction
from compiler.blocks import HeadBlock, MLPBlock, encode
from compiler.graph import ProgramGraph
from compiler.layers import Schedule
from compiler.residual import ResidualSpace
from rasp.errors import RaspcWarning

__all__ = ["ModelConfig", "Params", "emit_params", "input_encoding", "model_cost"]


def input_encoding(vocab: tuple, bos: Any, pad: Any) -> dict[Any, int]:
    """Token -> embedding row: the vocabulary (sorted), then BOS, then PAD."""
    mapping = {tok: i for i, tok in enumerate(vocab)}
    mapping[bos] = len(mapping)
    mapping[pad] = len(mapping)
    return mapping


def _head_factors(head: HeadBlock) -> tuple[int, int]:
    nq, nk = head.w_qk.shape
    nv, no = head.w_ov.shape
    return min(nq, nk), min(nv, no)


def _split(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``w = a @ b`` with an identity factor on the smaller side of ``w``."""
    rows, cols = w.shape
    if rows <= cols:
        return np.eye(rows), w
    return w, np.eye(cols)


def _idx(space: ResidualSpace, dirs: tuple[Direction, ...]) -> list[int]:
    """Residual indices of ``dirs`` (distinct within a block, so plain assignment works)."""
    index = space.index
    return [index[d] for d in dirs]


def _attention(heads: list[HeadBlock], space: ResidualSpace, cfg: ModelConfig) -> dict:
    d, h, k = len(space), cfg.num_heads, cfg.key_size
    q, kk, v = (np.zeros((d, h, k), dtype=np.float32) for _ in range(3))
    o = np.zeros((h, k, d), dtype=np.float32)
    for i, head in enumerate(heads):
        left, right = _split(head.w_qk)  # [nq, r], [r, nk]
        r = left.shape[1]
        q[_idx(space, head.q_dirs), i, :r] = left * np.sqrt(k)
        kk[_idx(space, head.k_dirs), i, :r] = right.T
        left, right = _split(head.w_ov)  # [nv, r], [r, no]
        r = left.shape[1]
        v[_idx(space, head.v_dirs), i, :r] = left
        o[i, :r, _idx(space, head.o_dirs)] = right.T  # [no, r] into o[i].T
    zeros = np.zeros(h * k, dtype=np.float32)
    return {
        ParamModule.QUERY: {"w": q.reshape(d, h * k), "b": zeros.copy()},
        ParamModule.KEY: {"w": kk.reshape(d, h * k), "b": zeros.copy()},
        ParamModule.VALUE: {"w": v.reshape(d, h * k), "b": zeros.copy()},
        ParamModule.ATTN_OUT: {"w": o.reshape(h * k, d), "b": np.zeros(d, dtype=np.float32)},
    }


def _mlp(mlps: list[MLPBlock], space: ResidualSpace, cfg: ModelConfig) -> dict:
    d, m = len(space), cfg.mlp_hidden_size
    w1 = np.zeros((d, m), dtype=np.float32)
    w2 = np.zeros((m, d), dtype=np.float32)
    offset = 0
    for block in mlps:
        n = block.hidden_size
        w1[_idx(space, block.in_dirs), offset : offset + n] = block.w_in
        w2[offset : offset + n, _idx(space, block.out_dirs)] = block.w_out
        offset += n
    return {
        ParamModule.MLP_IN: {"w": w1, "b": np.zeros(m, dtype=np.float32)},
        ParamModule.MLP_OUT: {"w": w2, "b": np.zeros(d, dtype=np.float32)},
    }


def _vector(space: ResidualSpace, weights: dict[Direction, float]) -> np.ndarray:
    out = np.zeros(len(space))
    index = space.index
    for d, w in weights.items():
        out[index[d]] += w
    return out


def _embeddings(
    graph: ProgramGraph, space: ResidualSpace, encoding: dict, bos: Direction, max_seq_len: int
) -> tuple[np.ndarray, np.ndarray]:
    exprs = [graph.expr(label) for label in graph.order]
    tokens = [e for e in exprs if isinstance(e, rasp.TokensType)]
    fulls = [e for e in exprs if isinstance(e, rasp.Full)]
    indices = [e for e in exprs if isinstance(e, rasp.IndicesType)]
    constants = [e for e in exprs if isinstance(e, rasp.ConstantSOp)]
    token_embed = np.zeros((len(encoding), len(space)))
    bos_token, pad_token = list(encoding)[-2:]
    for tok, row in encoding.items():
        if tok == pad_token:
            continue
        if tok == bos_token:
            token_embed[row] = _vector(space, {bos: 1.0})
            continue
        weights: dict[Direction, float] = {ONE: 1.0}
        for e in tokens:
            weights.update(encode(e.label, e, tok))
        for e in fulls:
            weights.update(encode(e.label, e, e.fill))
        token_embed[row] = _vector(space, weights)
    pos_embed = np.zeros((max_seq_len + 1, len(space)))
    for pos in range(max_seq_len):
        weights = {}
        for e in indices:
            weights.update(encode(e.label, e, pos))
        for e in constants:
            if pos < len(e.value):
                weights.update(encode(e.label, e, e.value[pos]))
        pos_embed[pos + 1] = _vector(space, weights)
    return token_embed, pos_embed


def emit_params(
    graph: ProgramGraph,
    schedule: Schedule,
    space: ResidualSpace,
    encoding: dict,
    bos: Direction,
    max_seq_len: int,
    causal: bool,
) -> tuple[Params, ModelConfig]:
    """All parameters (float32 numpy) and the config of the compiled model."""
    heads = [p.block for p in schedule.placements if isinstance(p.block, HeadBlock)]
    per_layer_heads = [len(schedule.in_sublayer(2 * layer)) for layer in range(schedule.num_layers)]
    widths = [
        sum(b.hidden_size for b in schedule.in_sublayer(2 * layer + 1))
        for layer in range(schedule.num_layers)
    ]
    cfg = ModelConfig(
        num_layers=schedule.num_layers,
        num_heads=max([1, *per_layer_heads]),
        key_size=max([1, *(max(_head_factors(h)) for h in heads)]),
        mlp_hidden_size=max([1, *widths]),
        d_model=len(space),
        max_seq_len=max_seq_len,
        vocab_size=len(encoding),
        causal=causal,
    )
    token_embed, pos_embed = _embeddings(graph, space, encoding, bos, max_seq_len)
    params: Params = {
        param_path(ParamModule.TOKEN_EMBED): {"embeddings": token_embed},
        param_path(ParamModule.POS_EMBED): {"embeddings": pos_embed},
    }
    for layer in range(cfg.num_layers):  # block order within a sub-layer: Schedule.slots
        attn = _attention(schedule.in_sublayer(2 * layer), space, cfg)
        mlp = _mlp(schedule.in_sublayer(2 * layer + 1), space, cfg)
        for module, p in (attn | mlp).items():
            params[param_path(module, layer)] = p
    params = {
        k: {n: a.astype(np.float32, copy=False) for n, a in v.items()} for k, v in params.items()
    }
    _warn_if_large(params, cfg, graph.output)
    return params, cfg


LARGE_PARAMS = 100_000_000
"""Parameter count above which a compiled model is announced as slow to run."""
LARGE_ACTIVATIONS = 256 * 2**20
"""Activation bytes per sequence above which a compiled model is announced as slow."""


def model_cost(params: Params, cfg: ModelConfig) -> tuple[int, int]:
    """(parameter count, float32 bytes of activations for one full-length sequence):
    every residual state, MLP hidden layer and attention pattern the model keeps."""
    count = sum(a.size for group in params.values() for a in group.values())
    positions = cfg.max_seq_len + 1
    per_layer = 2 * cfg.d_model + cfg.mlp_hidden_size + cfg.num_heads * positions
    return count, 4 * positions * (cfg.d_model + cfg.num_layers * per_layer)


def _warn_if_large(params: Params, cfg: ModelConfig, output: str) -> None:
    count, activations = model_cost(params, cfg)
    if count > LARGE_PARAMS or activations > LARGE_ACTIVATIONS:
        warnings.warn(
            f"{output}: the compiled model is large ({count:,} parameters, "
            f"{activations / 2**20:,.0f} MiB of activations per sequence; d_model "
            f"{cfg.d_model:,}, MLP width {cfg.mlp_hidden_size:,}), so running it will be "
            "slow; shrink the vocabulary or max_seq_len, or round intermediate values",
            RaspcWarning,
            stacklevel=4,
        )
