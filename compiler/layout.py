"""The model's layout: for every RASP node, where it lives in the compiled model.

This is the ground truth a user inspects: which sub-layer computes each node
(layer, attention head or MLP neurons), which residual directions hold it, and
which nodes it reads.  It is plain data (JSON-serialisable with
:func:`encode_value`), so a saved model keeps it without the Python program.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import rasp
from compiler.blocks import HeadBlock
from compiler.layers import sop_inputs
from rasp.errors import RaspcValueError

__all__ = ["Component", "NodeLayout", "ModelLayout", "build_layout", "encode_value", "decode_value"]


def encode_value(value: Any) -> Any:
    """A JSON form of a RASP value that keeps its type (1, 1.0, True and "1" differ)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return {"bool": value}
    if isinstance(value, int):
        return {"int": value}
    if isinstance(value, float):
        return {"float": repr(value)}
    if isinstance(value, tuple):
        return {"tuple": [encode_value(v) for v in value]}
    raise RaspcValueError(
        f"cannot save the value {value!r} ({type(value).__name__}); saved models hold None, "
        "bool, int, float, str and tuples of them"
    )


def decode_value(data: Any) -> Any:
    """Inverse of :func:`encode_value`."""
    if data is None or isinstance(data, str):
        return data
    ((kind, raw),) = data.items()
    if kind == "bool":
        return bool(raw)
    if kind == "int":
        return int(raw)
    if kind == "float":
        return float(raw)
    if kind == "tuple":
        return tuple(decode_value(v) for v in raw)
    raise RaspcValueError(f"unknown saved value kind {kind!r}")


@dataclass(frozen=True)
class Component:
    """One block of a node: attention head ``head`` of ``layer``, or MLP neurons
    ``[start, stop)`` of ``layer``."""

    kind: str  # "attn" or "mlp"
    layer: int
    start: int  # head index, or first hidden neuron
    stop: int  # head index + 1, or one past the last hidden neuron

    @property
    def name(self) -> str:
        if self.kind == "attn":
            return f"L{self.layer}H{self.start}"
        return f"L{self.layer}MLP[{self.start}:{self.stop}]"


@dataclass(frozen=True)
class NodeLayout:
    """Where one SOp lives."""

    label: str
    kind: str  # expression type, e.g. "Aggregate"
    encoding: str  # "categorical" or "numerical"
    values: tuple  # categorical: the value of each direction, in order; numerical: ()
    residual: tuple[int, ...]  # indices of its directions in the residual stream
    ready: int  # sub-layer after which it is in the stream (-1: embeddings)
    components: tuple[Component, ...]  # blocks computing it, in order
    reads: tuple[str, ...]  # SOps it reads (through selectors)
    scratch: tuple[int, ...] = ()  # residual directions its blocks use internally


@dataclass(frozen=True)
class ModelLayout:
    """Everything needed to run, decode and explain a compiled model, as plain data."""

    output: str
    nodes: dict[str, NodeLayout]  # in dependency order
    residual_labels: tuple[str, ...]
    vocab: tuple
    max_seq_len: int
    causal: bool
    bos: Any
    pad: Any
    input_encoding: dict[Any, int]

    @property
    def output_node(self) -> NodeLayout:
        return self.nodes[self.output]

    def to_json(self) -> dict[str, Any]:
        return {
            "output": self.output,
            "nodes": [
                {
                    "label": n.label,
                    "kind": n.kind,
                    "encoding": n.encoding,
                    "values": [encode_value(v) for v in n.values],
                    "residual": list(n.residual),
                    "ready": n.ready,
                    "components": [[c.kind, c.layer, c.start, c.stop] for c in n.components],
                    "reads": list(n.reads),
                    "scratch": list(n.scratch),
                }
                for n in self.nodes.values()
            ],
            "residual_labels": list(self.residual_labels),
            "vocab": [encode_value(v) for v in self.vocab],
            "max_seq_len": self.max_seq_len,
            "causal": self.causal,
            "bos": encode_value(self.bos),
            "pad": encode_value(self.pad),
            "input_encoding": [[encode_value(t), i] for t, i in self.input_encoding.items()],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ModelLayout:
        nodes = {}
        for n in data["nodes"]:
            nodes[n["label"]] = NodeLayout(
                label=n["label"],
                kind=n["kind"],
                encoding=n["encoding"],
                values=tuple(decode_value(v) for v in n["values"]),
                residual=tuple(n["residual"]),
                ready=n["ready"],
                components=tuple(Component(*c) for c in n["components"]),
                reads=tuple(n["reads"]),
                scratch=tuple(n["scratch"]),
            )
        return cls(
            output=data["output"],
            nodes=nodes,
            residual_labels=tuple(data["residual_labels"]),
            vocab=tuple(decode_value(v) for v in data["vocab"]),
            max_seq_len=data["max_seq_len"],
            causal=data["causal"],
            bos=decode_value(data["bos"]),
            pad=decode_value(data["pad"]),
            input_encoding={decode_value(t): i for t, i in data["input_encoding"]},
        )


def build_layout(compiled: Any) -> ModelLayout:
    """The layout of a :class:`compiler.CompiledProgram`."""

    graph, residual, schedule = compiled.graph, compiled.residual, compiled.schedule
    index = residual.index
    components: dict[str, list[Component]] = {}
    scratch: dict[str, list[int]] = {}
    owned = {d for dirs in residual.node_dirs.values() for d in dirs}
    for placement, start, stop in schedule.slots():
        block = placement.block
        kind = "attn" if isinstance(block, HeadBlock) else "mlp"
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
            encoding="numerical" if numerical else "categorical",
            values=() if numerical else tuple(d.value for d in dirs),
            residual=tuple(index[d] for d in dirs),
            ready=schedule.ready[label],
            components=tuple(components.get(label, ())),
            reads=sop_inputs(graph, label, cache),
            scratch=tuple(dict.fromkeys(scratch.get(label, ()))),
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
