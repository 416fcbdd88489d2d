"""Pass 8: the model's layout, where every RASP node lives in the compiled model.

For every SOp: which sub-layer computes it (layer, attention head or MLP neurons),
which residual directions hold it, which nodes it reads, and every value it can
take (the value-set pass's answer, so a back end never re-runs the compiler to learn
it).  The data types and their JSON form are the artifact's
(:mod:`compiler.artifact`); this module only builds them from the passes' results.
The types are re-exported here for code that imports them from ``compiler.layout``.
"""

from __future__ import annotations

from typing import Any

import rasp
from compiler.artifact import (
    Component,
    ComponentKind,
    Encoding,
    ModelLayout,
    NodeLayout,
    decode_value,
    encode_value,
)
from compiler.basis import sorted_values
from compiler.blocks import HeadBlock
from compiler.layers import sop_inputs

__all__ = ["Component", "NodeLayout", "ModelLayout", "build_layout", "encode_value", "decode_value"]


def _value_set(found: frozenset | None) -> tuple | None:
    """A value set as the layout keeps it: sorted, None (unknown) kept as None."""
    return None if found is None else sorted_values(found)


def build_layout(compiled: Any) -> ModelLayout:
    """The layout of a :class:`compiler.CompiledProgram`."""

    graph, residual, schedule = compiled.graph, compiled.residual, compiled.schedule
    index = residual.index
    components: dict[str, list[Component]] = {}
    scratch: dict[str, list[int]] = {}
    owned = {d for dirs in residual.node_dirs.values() for d in dirs}
    for placement, start, stop in schedule.slots():
        block = placement.block
        kind = ComponentKind.ATTN if isinstance(block, HeadBlock) else ComponentKind.MLP
        comp = Component(kind, placement.layer, start, stop)
        components.setdefault(block.node, []).append(comp)
        outs = block.o_dirs if isinstance(block, HeadBlock) else block.out_dirs
        scratch.setdefault(block.node, []).extend(index[d] for d in outs if d not in owned)
    nodes: dict[str, NodeLayout] = {}
    cache: dict[str, tuple[str, ...]] = {}
    for label in graph.order:
        expr = graph.expr(label)
        if not isinstance(expr, rasp.SOp):
            continue
        dirs = residual.node_dirs[label]
        numerical = rasp.is_numerical(expr)
        nodes[label] = NodeLayout(
            label=label,
            kind=type(expr).__name__,
            encoding=Encoding.NUMERICAL if numerical else Encoding.CATEGORICAL,
            values=() if numerical else tuple(d.value for d in dirs),
            residual=tuple(index[d] for d in dirs),
            ready=schedule.ready[label],
            components=tuple(components.get(label, ())),
            reads=sop_inputs(graph, label, cache),
            scratch=tuple(dict.fromkeys(scratch.get(label, ()))),
            value_set=_value_set(compiled.values.get(label)),
        )
    return ModelLayout(
        output=graph.output,
        nodes=nodes,
        residual_labels=tuple(residual.labels),
        vocab=compiled.vocab,
        max_seq_len=compiled.max_seq_len,
        causal=compiled.causal,
        bos=compiled.compiler_bos,
        pad=compiled.compiler_pad,
        input_encoding=dict(compiled.input_encoding),
    )
