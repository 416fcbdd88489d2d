"""The Haiku transformer that runs compiled weights.

Attention and MLP sub-layers on a residual stream, no layer norm, ReLU MLPs,
logits divided by ``sqrt(key_size)`` (as TransformerLens and Tracr do).  Haiku
module names come from :mod:`compiler.artifact` (``MODEL_SCOPE``, ``layer_scope``,
``ParamModule``), so the parameters land at its ``param_path`` names.

Shape vocabulary: B batch, T positions (BOS included), D d_model, H heads,
K key_size, M MLP width.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import haiku as hk
import jax
import jax.numpy as jnp

from compiler.artifact import MODEL_SCOPE, ModelConfig, ParamModule, layer_scope

__all__ = ["Hook", "make_forward"]

Hook = Callable[[int, jax.Array], tuple[jax.Array, jax.Array]]
"""``hook(site, x) -> (stream, seen)``, called before sub-layer ``site`` (0 .. 2L-1) and
before the read-out (site 2L): the stream continues as ``stream`` and the sub-layer (or
read-out) reads ``seen``.  Compression squeezes the stream here; without a hook both are
``x``."""


def _attention(x: jax.Array, mask: jax.Array, cfg: ModelConfig, layer: int) -> dict[str, Any]:
    h, k = cfg.num_heads, cfg.key_size
    with hk.name_scope(ParamModule.QUERY.scope):
        q = hk.Linear(h * k, name=ParamModule.QUERY.leaf)(x).reshape(*x.shape[:2], h, k)
        kk = hk.Linear(h * k, name=ParamModule.KEY.leaf)(x).reshape(*x.shape[:2], h, k)
        v = hk.Linear(h * k, name=ParamModule.VALUE.leaf)(x).reshape(*x.shape[:2], h, k)
        scores = jnp.einsum("bqhk,bthk->bhqt", q, kk) / jnp.sqrt(jnp.float32(k))  # [B,H,T,T]
        scores = jnp.where(mask, scores, -1e30)
        pattern = jax.nn.softmax(scores, axis=-1)
        z = jnp.einsum("bhqt,bthk->bqhk", pattern, v)  # [B, T, H, K]
        z_flat = z.reshape(*x.shape[:2], h * k)
        out = hk.Linear(cfg.d_model, name=ParamModule.ATTN_OUT.leaf)(z_flat)
    return {"q": q, "k": kk, "v": v, "scores": scores, "pattern": pattern, "z": z, "out": out}


def _mlp(x: jax.Array, cfg: ModelConfig, layer: int) -> dict[str, Any]:
    with hk.name_scope(ParamModule.MLP_IN.scope):
        pre = hk.Linear(cfg.mlp_hidden_size, name=ParamModule.MLP_IN.leaf)(x)  # [B, T, M]
        hidden = jax.nn.relu(pre)
        out = hk.Linear(cfg.d_model, name=ParamModule.MLP_OUT.leaf)(hidden)
    return {"pre": pre, "hidden": hidden, "out": out}


def _forward(
    token_ids: jax.Array, cfg: ModelConfig, pad_id: int, hook: Hook | None = None
) -> dict[str, Any]:
    """Runs the model on ``token_ids [B, T]`` and returns every intermediate."""
    _, t = token_ids.shape
    token_embed = hk.Embed(cfg.vocab_size, cfg.d_model, name=ParamModule.TOKEN_EMBED)(token_ids)
    pos_embed = hk.Embed(cfg.max_seq_len + 1, cfg.d_model, name=ParamModule.POS_EMBED)(
        jnp.arange(t)
    )
    x = token_embed + pos_embed[None]  # [B, T, D]
    mask = (token_ids != pad_id)[:, None, None, :]  # [B, 1, 1, T] keys that exist
    if cfg.causal:
        mask = mask & jnp.tril(jnp.ones((t, t), dtype=bool))[None, None]
    out: dict[str, Any] = {
        "token_embed": token_embed,
        "pos_embed": pos_embed,
        "embeddings": x,
        "residuals": [],
        "layer_outputs": [],
        "attn_logits": [],
        "attn_patterns": [],
        "attn_z": [],
        "mlp_hidden": [],
        "attn_q": [],  # per layer, [B, T, H, K] (also attn_k, attn_v)
        "attn_k": [],
        "attn_v": [],
        "mlp_pre": [],  # per layer, [B, T, M], before the ReLU
    }
    with hk.name_scope(MODEL_SCOPE):
        for layer in range(cfg.num_layers):
            x = _layer(x, mask, cfg, layer, out, hook)
    out["output"] = x if hook is None else hook(2 * cfg.num_layers, x)[1]
    return out


def _layer(
    x: jax.Array, mask: jax.Array, cfg: ModelConfig, layer: int, out: dict, hook: Hook | None
) -> jax.Array:
    def hooked(site: int, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        return (x, x) if hook is None else hook(site, x)

    with hk.name_scope(layer_scope(layer)):
        x, seen = hooked(2 * layer, x)
        attn = _attention(seen, mask, cfg, layer)
        x = x + attn["out"]
        out["layer_outputs"].append(attn["out"])
        out["residuals"].append(x)
        out["attn_logits"].append(attn["scores"])
        out["attn_patterns"].append(attn["pattern"])
        out["attn_z"].append(attn["z"])
        for name in ("q", "k", "v"):
            out[f"attn_{name}"].append(attn[name])
        x, seen = hooked(2 * layer + 1, x)
        mlp = _mlp(seen, cfg, layer)
        x = x + mlp["out"]
        out["layer_outputs"].append(mlp["out"])
        out["residuals"].append(x)
        out["mlp_hidden"].append(mlp["hidden"])
        out["mlp_pre"].append(mlp["pre"])
    return x


def make_forward(cfg: ModelConfig, pad_id: int, hook: Hook | None = None):
    """A pure ``apply(params, token_ids)`` for this config (Haiku-transformed, no RNG);
    ``hook`` (see :data:`Hook`) lets a compressed model squeeze the stream between
    sub-layers with the same forward pass."""
    forward = hk.transform(lambda ids: _forward(ids, cfg, pad_id, hook))
    return hk.without_apply_rng(forward).apply
