"""Interventions on a model: patch one node's residual directions from a source input.

Every RASP node lives in its own residual directions, written once (by the embedding
or the block that computes it) and only read afterwards.  So replacing those
directions, right after the sub-layer that writes them, with their values on another
input of the same length sets that node to its value on the other input, and every
block downstream then computes from it: exactly
``rasp.evaluate(program, base, interventions={label: evaluate_all(program, source)[label]})``.
This module does that on the compiled model (through the forward pass's stream hook,
:data:`models.transformer.Hook`) and on a TransformerLens model (a forward hook on the
residual stream, TransformerLens's ``run_with_hooks``), so intervention experiments
can be checked against the program.

Inputs are token lists without BOS; each base is patched from the source in the same
row, which must have the same length.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np

from compiler.artifact import HookPoint, hook_name, resid_hook
from models.cache import token_ids
from models.compiled import bucket
from rasp.errors import RaspcValueError

__all__ = ["patch_node", "patch_node_tl", "patchable_nodes", "patch_site"]


def patchable_nodes(model: Any) -> list[str]:
    """Labels of the nodes that hold residual directions (the ones that can be patched;
    a node the compiler fused into its consumer's MLP has none)."""
    return [label for label, n in model.layout.nodes.items() if n.residual]


def patch_site(model: Any, label: str) -> tuple[int, tuple[int, ...]]:
    """``(sub-layer after which the node is in the stream, its residual indices)``."""
    nodes = model.layout.nodes
    if label not in nodes:
        raise RaspcValueError(f"no node {label!r} in this model; its nodes are {list(nodes)}")
    node = nodes[label]
    if not node.residual:
        raise RaspcValueError(
            f"node {label!r} has no residual directions (the compiler fused it into the block "
            f"that reads it), so it cannot be patched; patch one of {patchable_nodes(model)}"
        )
    return node.ready, node.residual


def _pairs(model: Any, base: Sequence[Sequence], source: Sequence[Sequence]) -> tuple:
    base, source = [list(b) for b in base], [list(s) for s in source]
    if len(base) != len(source) or any(len(b) != len(s) for b, s in zip(base, source)):
        raise RaspcValueError(
            f"patching needs one source per base input with the same length, found base "
            f"lengths {[len(b) for b in base]} and source lengths {[len(s) for s in source]}"
        )
    enc, width = model.input_encoder, model.model_config.max_seq_len + 1

    def ids(batch: list[list]) -> np.ndarray:  # padded (rows too): few jitted shapes
        rows = max(16, bucket(len(batch), 1 << 16))
        out = np.full((rows, width), enc.pad_id, dtype=np.int32)
        short = token_ids(model, [[enc.bos_token, *x] for x in batch])
        out[: len(batch), : short.shape[1]] = short
        out[len(batch) :, 0] = enc.encode([enc.bos_token])[0]
        return out

    return ids(base), ids(source), [len(b) for b in base]


def _decode(model: Any, output: np.ndarray, lengths: list[int]) -> list[list]:
    return [model.output_encoder.decode(output[row, 1 : n + 1]) for row, n in enumerate(lengths)]


@functools.lru_cache(maxsize=64)
def _patched_forward(cfg: Any, pad_id: int) -> Any:
    """A jitted ``run(params, ids, site, mask, source) -> output stream`` that sets the
    directions in ``mask [D]`` to ``source [B, T, D]`` before sub-layer ``site``; the
    site is an argument, so each config compiles once."""
    import jax
    import jax.numpy as jnp

    from models.transformer import make_forward

    def run(params: Any, ids: Any, site: Any, mask: Any, source: Any) -> Any:
        def hook(at: int, x: Any) -> tuple[Any, Any]:
            x = jnp.where(mask & (site == at), source, x)
            return x, x

        return make_forward(cfg, pad_id, hook)(params, ids)["output"]

    return jax.jit(run)


def patch_node(
    model: Any, label: str, base: Sequence[Sequence], source: Sequence[Sequence]
) -> list[list]:
    """The compiled model's decoded outputs on ``base`` with node ``label`` set to its
    value on ``source`` (row by row)."""
    ready, dirs = patch_site(model, label)
    base_ids, source_ids, lengths = _pairs(model, base, source)
    out = model._jitted(model.params, source_ids)
    stream = np.asarray(out["embeddings"] if ready < 0 else out["residuals"][ready])
    mask = np.zeros(model.model_config.d_model, dtype=bool)
    mask[list(dirs)] = True
    run = _patched_forward(model.model_config, model.input_encoder.pad_id)
    patched = run(model.params, base_ids, np.int32(ready + 1), mask, stream)
    return _decode(model, np.asarray(patched), lengths)


def patch_node_tl(
    tl_model: Any,
    model: Any,
    label: str,
    base: Sequence[Sequence],
    source: Sequence[Sequence],
) -> list[list]:
    """The same intervention on a TransformerLens model exported from ``model`` (a
    ``HookedTransformer`` of :func:`models.hooked.to_hooked_transformer`, or a bridge of
    :func:`models.tl_export.to_transformer_lens`): the node's directions are
    overwritten at the residual hook after its sub-layer."""
    import torch

    ready, dirs = patch_site(model, label)
    base_ids, source_ids, lengths = _pairs(model, base, source)
    width = max(lengths) + 1  # no PAD column when the rows share a length (bridge: no mask)
    base_ids, source_ids = base_ids[: len(lengths), :width], source_ids[: len(lengths), :width]
    name = resid_hook(ready)
    read_out = hook_name(HookPoint.UNEMBED_IN)
    if ready == 2 * model.model_config.num_layers - 1 and read_out in tl_model.hook_dict:
        name = read_out  # the read-out's own input (a bridge's last resid hook is a copy)
    index = torch.tensor(dirs)
    with torch.no_grad():
        _, cache = tl_model.run_with_cache(torch.tensor(source_ids, dtype=torch.long))
        wanted = cache[name][:, :, index].clone()

        def hook(act: torch.Tensor, hook: Any = None) -> torch.Tensor:
            act[:, :, index] = wanted  # in place: some bridge hooks ignore a returned tensor
            return act

        logits = tl_model.run_with_hooks(
            torch.tensor(base_ids, dtype=torch.long), fwd_hooks=[(name, hook)]
        )
    return _decode(model, _logits_to_stream(model, logits.numpy()), lengths)


def _logits_to_stream(model: Any, logits: np.ndarray) -> np.ndarray:
    """A residual-shaped array holding the logits in the output node's directions, so the
    model's own output encoder decodes them (the unembedding is a 0/1 selection)."""
    out = model.layout.output_node
    stream = np.zeros((*logits.shape[:2], model.model_config.d_model), np.float32)
    stream[:, :, list(out.residual)] = logits[:, :, : len(out.residual)]
    return stream
