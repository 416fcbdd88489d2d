"""Read residual activations back as program values.

Every SOp owns labelled residual directions and is written by a known
sub-layer (``NodeLayout.ready``).  Decoding a node reads its directions from
the residual stream after that sub-layer: the argmax value for a categorical
node (None when every direction is ~0) or the number for a numerical one.  Any
residual vector can be decoded into the values of every node live there.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from compiler.artifact import ModelLayout
from models.encoders import NONE_THRESHOLD

__all__ = ["decode_directions", "decode_node", "decode_residual", "decode_stream", "node_stream"]


def decode_directions(layout: ModelLayout, label: str, residual: np.ndarray) -> list[Any]:
    """Values of node ``label`` in ``residual [..., T, D]`` (one per position)."""
    node = layout.nodes[label]
    cols = np.asarray(residual)[..., list(node.residual)]
    if node.encoding == "numerical":
        return cols[..., 0].tolist()
    if not node.residual:
        return np.full(cols.shape[:-1], None, dtype=object).tolist()
    best = cols.argmax(axis=-1)
    top = cols.max(axis=-1)
    values = np.empty(len(node.values) + 1, dtype=object)
    values[:] = [*node.values, None]
    picked = np.where(top >= NONE_THRESHOLD, best, len(node.values))
    return values[picked].tolist()


def node_stream(layout: ModelLayout, label: str, residuals: list, embeddings: Any) -> Any:
    """The residual stream right after the sub-layer that writes ``label``."""
    ready = layout.nodes[label].ready
    return embeddings if ready < 0 else residuals[ready]


def decode_node(model: Any, out: Any, label: str) -> list[Any]:
    """Values of node ``label`` at every token position (BOS dropped) of a ``ModelOutput``."""
    stream = np.asarray(node_stream(model.layout, label, out.residuals, out.input_embeddings))
    return decode_directions(model.layout, label, stream[0])[1:]


def decode_residual(model: Any, residual: np.ndarray, sublayer: int) -> dict[str, list[Any]]:
    """Every node already written by the end of ``sublayer`` (-1: the embeddings), decoded
    from ``residual [T, D]``."""
    return decode_stream(model.layout, residual, sublayer)


def decode_stream(
    layout: ModelLayout, residual: np.ndarray, sublayer: int, *, only_new: bool = False
) -> dict[str, list[Any]]:
    """Like :func:`decode_residual`, from a layout alone (e.g. a saved model's, or an
    activation cache's); ``only_new`` keeps the nodes that ``sublayer`` itself writes,
    which is what a sub-layer's output (rather than the whole stream) holds."""
    return {
        label: decode_directions(layout, label, residual)
        for label, node in layout.nodes.items()
        if (node.ready == sublayer if only_new else node.ready <= sublayer)
    }
