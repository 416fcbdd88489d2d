"""Export a compiled model to TransformerLens, so its tools run on known ground truth.

TransformerLens 4 builds models as a ``TransformerBridge``; its
``HookedTransformer`` class is gone, and ``TransformerBridge.boot_native``
builds the small, self-contained transformer that raspc's models are: attention
and ReLU MLP sub-layers on a residual stream, no layer norm, logits divided by
``sqrt(d_head)``, every bias zero.  :func:`to_transformer_lens` boots one with
our config and loads our weights under TransformerLens's own parameter names
(``embed.weight``, ``blocks.{l}.attn.q.weight``, ``blocks.{l}.mlp.in.weight``,
``unembed.weight``, ...).  Its logits are ``resid_final @ W_U`` with the
unembedding of :func:`models.cache.unembed_matrix`: for a categorical output one
column per value selecting that value's direction, for a numerical output one
column holding the value.

Masking: our model masks PAD keys (and future keys when compiled causal).  A
bidirectional model exports with ``attention_dir="bidirectional"``; for padded
batches pass the ``attention_mask`` that :func:`tl_inputs` returns.

TransformerLens's own adapter for Tracr models
(``transformer_lens.utilities.tracr``) also loads raspc's categorical models
unchanged, because they keep Tracr's interface (Haiku parameter paths,
``label:value`` residual labels, ``model_config``, ``output_encoder.encoding_map``);
:func:`load_with_tracr_adapter` goes that way.

Reading the logits back: a categorical position whose value is None has every
logit ~0, and a plain ``argmax`` would still name a value there.
:func:`decode_tl_logits` decodes the way ``model.apply`` does (the argmax value,
None below the output encoder's threshold; the number for a numerical output).

torch and transformer_lens are imported inside the functions (the ``tl`` extra).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from compiler.artifact import ParamModule, param_path
from models.cache import token_ids, unembed_matrix
from models.encoders import NONE_THRESHOLD
from rasp.errors import RaspcValueError

if TYPE_CHECKING:
    import torch
    from transformer_lens.config import TransformerBridgeConfig
    from transformer_lens.model_bridge import TransformerBridge

__all__ = [
    "decode_tl_logits",
    "load_with_tracr_adapter",
    "tl_inputs",
    "to_transformer_lens",
    "transformer_lens_config",
    "transformer_lens_state_dict",
]


def _require_tl() -> None:
    try:
        import torch  # noqa: F401
        import transformer_lens  # noqa: F401
    except ImportError as err:
        raise RaspcValueError(
            f"exporting to TransformerLens needs torch and transformer-lens ({err}); install "
            "them with: pip install 'raspc[tl]'"
        ) from err


def transformer_lens_config(model: Any) -> TransformerBridgeConfig:
    """The ``TransformerBridgeConfig`` of ``model``'s architecture (no layer norm, ReLU,
    ``n_ctx = max_seq_len + 1`` for BOS, ``d_vocab`` counting BOS and PAD)."""
    _require_tl()
    from transformer_lens.config import TransformerBridgeConfig

    cfg = model.model_config
    return TransformerBridgeConfig(
        d_model=cfg.d_model,
        d_head=cfg.key_size,
        n_layers=cfg.num_layers,
        n_ctx=cfg.max_seq_len + 1,
        n_heads=cfg.num_heads,
        d_vocab=cfg.vocab_size,
        d_vocab_out=unembed_matrix(model.layout).shape[1],
        d_mlp=cfg.mlp_hidden_size,
        act_fn="relu",
        normalization_type=None,
        attention_dir="causal" if cfg.causal else "bidirectional",
        model_name=f"raspc-{model.layout.output}",
        init_weights=False,  # every weight is loaded next
    )


def transformer_lens_state_dict(model: Any) -> dict[str, torch.Tensor]:
    """Our weights under TransformerLens's parameter names (``torch.nn.Linear``
    layout: ``weight [out, in]``), biases included (all zero)."""
    _require_tl()
    import torch

    def tensor(array: Any) -> torch.Tensor:
        return torch.tensor(np.asarray(array, dtype=np.float32))

    p = model.params
    w_u = unembed_matrix(model.layout)  # [D, V]
    state = {
        "embed.weight": tensor(p[param_path(ParamModule.TOKEN_EMBED)]["embeddings"]),
        "pos_embed.weight": tensor(p[param_path(ParamModule.POS_EMBED)]["embeddings"]),
        "unembed.weight": tensor(w_u.T),
        "unembed.bias": torch.zeros(w_u.shape[1]),
    }
    ours = {
        "q": ParamModule.QUERY,
        "k": ParamModule.KEY,
        "v": ParamModule.VALUE,
        "o": ParamModule.ATTN_OUT,
        "in": ParamModule.MLP_IN,
        "out": ParamModule.MLP_OUT,
    }
    for layer in range(model.model_config.num_layers):
        for name, path in ours.items():
            module = p[param_path(path, layer)]
            group = path.scope  # the bridge's groups are named like our scopes
            state[f"blocks.{layer}.{group}.{name}.weight"] = tensor(module["w"]).T.contiguous()
            state[f"blocks.{layer}.{group}.{name}.bias"] = tensor(module["b"])
    return state


def to_transformer_lens(model: Any, *, device: str | None = None) -> TransformerBridge:
    """A TransformerLens ``TransformerBridge`` computing exactly what ``model`` computes.

    Run it on the ids of :func:`tl_inputs`: ``bridge.run_with_cache(ids)`` gives the
    same activations as :func:`models.cache.run_with_cache` (TransformerLens's hook
    names, e.g. ``blocks.0.attn.hook_pattern``) and logits equal to ours.
    """
    _require_tl()
    import transformer_lens.model_bridge.sources  # noqa: F401  (attaches boot_native)
    from transformer_lens.model_bridge import TransformerBridge

    bridge = TransformerBridge.boot_native(transformer_lens_config(model), device=device)
    bridge.load_state_dict(transformer_lens_state_dict(model), strict=True)
    bridge.eval()
    return bridge


def tl_inputs(model: Any, tokens: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """``(input_ids [B, T], attention_mask [B, T])`` as torch tensors for ``tokens`` (one
    input starting with BOS, a list of them, or ids; see :func:`models.cache.token_ids`).

    The mask is 0 at PAD positions, which is how our model masks them; pass it as
    ``bridge(ids, attention_mask=mask)`` when a batch mixes lengths.
    """
    _require_tl()
    import torch

    ids = token_ids(model, tokens)
    mask = ids != model.input_encoder.pad_id
    return torch.tensor(ids, dtype=torch.long), torch.tensor(mask.astype(np.int64))


def _decode_rows(model: Any, logits: np.ndarray) -> list[Any]:
    """``logits [T, V]`` -> one value per position, as the output encoder decodes."""
    out = model.layout.output_node
    if out.encoding == "numerical":
        return [float(v) for v in logits[:, 0]]
    if not out.values:
        return [None] * logits.shape[0]
    best, top = logits.argmax(axis=-1), logits.max(axis=-1)
    return [out.values[b] if t >= NONE_THRESHOLD else None for b, t in zip(best, top)]


def decode_tl_logits(model: Any, logits: Any, attention_mask: Any = None) -> list[Any]:
    """The exported model's ``logits`` (``[T, V]`` or ``[B, T, V]``, torch or numpy) read
    back as program values, None included, exactly as ``model.apply`` reads them.

    Each row starts with the BOS token, like ``model.apply(...).decoded``; with
    ``attention_mask`` (from :func:`tl_inputs`) PAD positions are dropped.  Returns one
    list for ``[T, V]`` logits, a list of lists for ``[B, T, V]``.
    """
    array = logits.detach().cpu().numpy() if hasattr(logits, "detach") else np.asarray(logits)
    width = unembed_matrix(model.layout).shape[1]
    if array.ndim not in (2, 3) or array.shape[-1] != width:
        raise RaspcValueError(
            f"expected logits [T, {width}] or [B, T, {width}] from this model's export, found "
            f"shape {array.shape}; pass bridge(ids) for ids from tl_inputs(model, tokens)"
        )
    single = array.ndim == 2
    batch = array[None] if single else array
    if attention_mask is None:
        mask = np.ones(batch.shape[:2], dtype=bool)
    else:
        mask = np.asarray(
            attention_mask.cpu() if hasattr(attention_mask, "cpu") else attention_mask
        ).astype(bool)
        mask = mask[None] if mask.ndim == 1 else mask
        if mask.shape != batch.shape[:2]:
            raise RaspcValueError(
                f"attention_mask has shape {mask.shape}, the logits {batch.shape[:2]} positions"
            )
    bos = model.input_encoder.bos_token
    rows = [[bos, *_decode_rows(model, row[keep])[1:]] for row, keep in zip(batch, mask)]
    return rows[0] if single else rows


def load_with_tracr_adapter(model: Any) -> TransformerBridge:
    """Load ``model`` with TransformerLens's adapter for Tracr models, unchanged.

    Only categorical outputs: the adapter needs ``output_encoder.encoding_map``,
    which a numerical output (here as in Tracr) does not have; use
    :func:`to_transformer_lens` for those.
    """
    _require_tl()
    if model.layout.output_node.encoding != "categorical":
        raise RaspcValueError(
            f"TransformerLens's Tracr adapter loads categorical outputs only, and "
            f"{model.layout.output!r} is numerical; use models.tl_export.to_transformer_lens"
        )
    import transformer_lens.model_bridge.sources  # noqa: F401  (attaches boot_native)
    from transformer_lens.model_bridge import TransformerBridge
    from transformer_lens.utilities import tracr

    bridge = TransformerBridge.boot_native(tracr.make_tracr_transformer_bridge_config(model))
    state = tracr.make_tracr_transformer_bridge_state_dict(model, output_label=model.layout.output)
    bridge.load_state_dict(state, strict=False)
    bridge.eval()
    return bridge
