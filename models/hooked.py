"""Export a compiled model to TransformerLens's ``HookedTransformer`` (TL 2.x and 3.x).

Most circuit tools (auto-circuit, ACDC, SAELens, InterpBench) are written against
``HookedTransformer``, which TransformerLens 4 replaced by ``TransformerBridge``
(see :mod:`models.tl_export` for that path).  :func:`to_hooked_transformer` builds a
``HookedTransformer`` with raspc's architecture (no layer norm, ReLU MLPs, logits
divided by ``sqrt(d_head)``) and loads the compiled weights under TransformerLens's
names (``W_E``, ``W_pos``, ``blocks.{l}.attn.W_Q [H, D, K]``, ``W_O [H, K, D]``,
``mlp.W_in``, ``unembed.W_U``).  The hooks that edge-level tools need are on:
``use_split_qkv_input`` (each head reads its own q/k/v input, so ``Q``, ``K`` and
``V`` edges can be patched apart), ``use_attn_result`` (each head's output
separately) and ``use_hook_mlp_in``.  The unembedding is
:func:`models.cache.unembed_matrix`: one logit per output value (categorical) or
the value itself (numerical).

Inputs start with BOS, exactly as for ``model.apply``: pass the ids of
:func:`models.tl_export.tl_inputs` (there is no tokenizer, and
``default_prepend_bos`` is off so nothing is prepended twice).

Padding.  A compiled model ignores PAD keys.  A causal ``HookedTransformer`` gets
that for free (PAD only follows real tokens), but a bidirectional one ignores any
``attention_mask`` in attention, and the tools do not pass one.  So a bidirectional
export masks PAD keys in its weights: every head gets one extra ``d_head``
dimension (the last) whose query is a constant bias and whose key is
``one + BOS - 1``, which is ``-1`` exactly at PAD positions and ``0`` elsewhere
(the compiler never writes ``one`` or BOS after the embeddings), so PAD keys score
about ``-1e6`` and real keys are untouched.  ``attn_scale`` stays ``sqrt(d_head)``
of the compiled model, so every score, pattern and residual activation equals the
compiled model's; only ``hook_q/k/v/z`` carry the extra, last dimension.

Needs the ``hooked`` extra (``transformer-lens>=2.16,<4``); imported lazily.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from compiler.artifact import ParamModule, param_path
from compiler.circuit import circuit_map
from models.cache import unembed_matrix
from rasp.errors import RaspcValueError

if TYPE_CHECKING:
    from transformer_lens import HookedTransformer, HookedTransformerConfig

__all__ = [
    "PAD_SCORE",
    "has_hooked_transformer",
    "hooked_config",
    "hooked_state_dict",
    "to_hooked_transformer",
]

PAD_SCORE = 1e6
"""How far below any real key a PAD key scores in a bidirectional export."""

_ONE, _BOS = 0, 1  # residual indices of the `one` and BOS directions (compiler.residual)


def _require_hooked() -> Any:
    """The ``transformer_lens`` module, if it still has ``HookedTransformer``."""
    try:
        import torch  # noqa: F401
        import transformer_lens
    except ImportError as err:
        raise RaspcValueError(
            f"to_hooked_transformer needs torch and transformer-lens 2.x/3.x ({err}); install "
            "them with: pip install 'raspc[hooked]'"
        ) from err
    if not has_hooked_transformer():
        version = getattr(transformer_lens, "__version__", "4+")
        raise RaspcValueError(
            f"transformer-lens {version} has no HookedTransformer (TransformerLens 4 replaced it "
            "by TransformerBridge); use models.tl_export.to_transformer_lens, or install "
            "'raspc[hooked]' (transformer-lens>=2.16,<4) in another environment (make test-tl3)"
        )
    return transformer_lens


def has_hooked_transformer() -> bool:
    """Whether the installed TransformerLens has ``HookedTransformer`` (2.x, 3.x; not 4)."""
    try:
        from transformer_lens import HookedTransformer  # noqa: F401
    except ImportError:  # TL 4 raises ImportError from its module __getattr__
        return False
    return True


def masks_pad_in_weights(model: Any) -> bool:
    """Whether the export adds the PAD-masking ``d_head`` dimension (bidirectional models)."""
    return not model.model_config.causal


def hooked_config(model: Any, *, model_name: str | None = None) -> HookedTransformerConfig:
    """The ``HookedTransformerConfig`` of ``model``'s architecture, with the hooks edge-level
    tools need switched on (split q/k/v inputs, per-head results, ``hook_mlp_in``)."""
    tl = _require_hooked()
    cfg = model.model_config
    return tl.HookedTransformerConfig(
        n_layers=cfg.num_layers,
        d_model=cfg.d_model,
        d_head=cfg.key_size + masks_pad_in_weights(model),
        n_heads=cfg.num_heads,
        d_mlp=cfg.mlp_hidden_size,
        d_vocab=cfg.vocab_size,
        d_vocab_out=unembed_matrix(model.layout).shape[1],
        n_ctx=cfg.max_seq_len + 1,
        act_fn="relu",
        normalization_type=None,
        attention_dir="causal" if cfg.causal else "bidirectional",
        attn_scale=float(np.sqrt(cfg.key_size)),
        positional_embedding_type="standard",
        default_prepend_bos=False,
        use_attn_result=True,
        use_split_qkv_input=True,
        use_hook_mlp_in=True,
        model_name=model_name or f"raspc-{model.layout.output}",
        device="cpu",
        seed=0,
    )


def _check_bias_directions(model: Any) -> None:
    """The PAD mask reads ``one + BOS``: refuse a model where a block writes either."""
    for comp in circuit_map(model).components.values():
        if comp.layer >= 0 and {_ONE, _BOS} & set(comp.writes):
            raise RaspcValueError(
                f"component {comp.name} writes the one/BOS directions, so the PAD mask of a "
                "bidirectional HookedTransformer export would be wrong; compile with "
                "causal=True or use models.tl_export.to_transformer_lens with an attention_mask"
            )


def hooked_state_dict(model: Any) -> dict[str, np.ndarray]:
    """Our weights under ``HookedTransformer``'s parameter names and shapes (float32 numpy)."""
    cfg = model.model_config
    h, k, d = cfg.num_heads, cfg.key_size, cfg.d_model
    mask = masks_pad_in_weights(model)
    p = {
        name: {n: np.asarray(a, np.float32) for n, a in v.items()}
        for name, v in model.params.items()
    }
    w_u = unembed_matrix(model.layout)
    state = {
        "embed.W_E": p[param_path(ParamModule.TOKEN_EMBED)]["embeddings"],
        "pos_embed.W_pos": p[param_path(ParamModule.POS_EMBED)]["embeddings"],
        "unembed.W_U": w_u,
        "unembed.b_U": np.zeros(w_u.shape[1], np.float32),
    }
    for layer in range(cfg.num_layers):
        b = f"blocks.{layer}"  # HookedTransformer's state-dict prefix
        ours = {m: p[param_path(m, layer)] for m in ParamModule if m.per_layer}
        for module, name in (
            (ParamModule.QUERY, "Q"),
            (ParamModule.KEY, "K"),
            (ParamModule.VALUE, "V"),
        ):
            w = ours[module]["w"].reshape(d, h, k).transpose(1, 0, 2)  # [H, D, K]
            bias = ours[module]["b"].reshape(h, k)
            if mask:
                w = np.concatenate([w, np.zeros((h, d, 1), np.float32)], axis=2)
                bias = np.concatenate([bias, np.zeros((h, 1), np.float32)], axis=1)
                if name == "Q":
                    bias[:, k] = PAD_SCORE
                if name == "K":
                    w[:, [_ONE, _BOS], k] = 1.0
                    bias[:, k] = -1.0
            state[f"{b}.attn.W_{name}"], state[f"{b}.attn.b_{name}"] = w, bias
        w_o = ours[ParamModule.ATTN_OUT]["w"].reshape(h, k, d)
        if mask:
            w_o = np.concatenate([w_o, np.zeros((h, 1, d), np.float32)], axis=1)
        state[f"{b}.attn.W_O"], state[f"{b}.attn.b_O"] = w_o, ours[ParamModule.ATTN_OUT]["b"]
        mlp_in, mlp_out = ours[ParamModule.MLP_IN], ours[ParamModule.MLP_OUT]
        state[f"{b}.mlp.W_in"], state[f"{b}.mlp.b_in"] = mlp_in["w"], mlp_in["b"]
        state[f"{b}.mlp.W_out"], state[f"{b}.mlp.b_out"] = mlp_out["w"], mlp_out["b"]
    return state


def to_hooked_transformer(
    model: Any, *, model_name: str | None = None, device: str = "cpu"
) -> HookedTransformer:
    """A TransformerLens 2.x/3.x ``HookedTransformer`` computing exactly what ``model`` does.

    ``model_name`` is the config's ``model_name`` (default ``raspc-{output label}``);
    some tools key their hand-written ground truth on it.  Run it on the ids of
    :func:`models.tl_export.tl_inputs` (BOS first, PAD-padded batches allowed).
    """
    tl = _require_hooked()
    import torch

    if masks_pad_in_weights(model):
        _check_bias_directions(model)
    hooked = tl.HookedTransformer(hooked_config(model, model_name=model_name), move_to_device=False)
    state = hooked_state_dict(model)
    params = dict(hooked.named_parameters())
    missing = sorted(set(params) - set(state))
    unknown = sorted(set(state) - set(params))
    if missing or unknown:
        raise RaspcValueError(
            f"this transformer-lens has parameters {missing} that raspc does not fill and lacks "
            f"{unknown}; supported: transformer-lens>=2.16,<4"
        )
    with torch.no_grad():
        for name, value in state.items():
            if tuple(params[name].shape) != value.shape:
                raise RaspcValueError(
                    f"{name}: HookedTransformer expects shape {tuple(params[name].shape)}, "
                    f"raspc has {value.shape}"
                )
            params[name].copy_(torch.from_numpy(np.array(value, dtype=np.float32)))
    if device != "cpu":
        hooked.to(device)
    hooked.eval()
    return hooked
