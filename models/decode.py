"""Read residual activations back as program values.

Every SOp owns labelled residual directions and is written by a known
sub-layer (``schedule.ready``).  Decoding a node reads its directions from the
residual stream after that sub-layer: the argmax value for a categorical node
(None when every direction is ~0) or the number for a numerical one.  Any
residual vector can be decoded into the values of every node live there.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import rasp
from models.encoders import NONE_THRESHOLD

__all__ = ["decode_directions", "decode_node", "decode_residual", "node_stream"]


def decode_directions(model: Any, label: str, residual: np.ndarray) -> list[Any]:
    """Values of node ``label`` in ``residual [..., T, D]`` (one per position)."""
    compiled = model.compiled
    expr = compiled.graph.expr(label)
    dirs = compiled.residual.node_dirs[label]
    index = compiled.residual.index
    cols = residual[..., [index[d] for d in dirs]]
    if rasp.is_numerical(expr):
        return cols[..., 0].tolist()
    if not dirs:
        return np.full(cols.shape[:-1], None, dtype=object).tolist()
    best = cols.argmax(axis=-1)
    top = cols.max(axis=-1)
    values = np.array([d.value for d in dirs] + [None], dtype=object)
    picked = np.where(top >= NONE_THRESHOLD, best, len(dirs))
    return values[picked].tolist()


def node_stream(model: Any, label: str, residuals: list, embeddings: Any) -> Any:
    """The residual stream right after the sub-layer that writes ``label``."""
    ready = model.compiled.schedule.ready[label]
    return embeddings if ready < 0 else residuals[ready]


def decode_node(model: Any, out: Any, label: str) -> list[Any]:
    """Values of node ``label`` at every token position (BOS dropped) of a ``ModelOutput``."""
    stream = np.asarray(node_stream(model, label, out.residuals, out.input_embeddings))
    return decode_directions(model, label, stream[0])[1:]


def decode_residual(model: Any, residual: np.ndarray, sublayer: int) -> dict[str, list[Any]]:
    """Every node already written by the end of ``sublayer`` (-1: the embeddings), decoded
    from ``residual [T, D]``."""
    ready = model.compiled.schedule.ready
    return {
        label: decode_directions(model, label, np.asarray(residual))
        for label, at in ready.items()
        if at <= sublayer
    }
