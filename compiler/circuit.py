"""The circuit map: the ground truth of where a compiled program lives in its model.

An interpretability tool run on a compiled model finds heads, neurons and
residual directions; this module says what the compiler actually put there, so
the findings can be checked.  For every RASP node it records which components
compute it (embedding, attention head, or MLP hidden neurons), which residual
directions hold it (indices and ``label:value`` labels) and which nodes it
reads.  For every component it records which residual directions it reads
(separately through queries, keys and values for a head) and writes.  The
edges between components are the ground-truth circuit: ``A -> B`` when ``B``
reads a residual direction that ``A`` writes.

Reads and writes come from the weights themselves (the non-zero rows and
columns of each component's matrices), not from the program, so the map stays
exact where the program would over- or under-state a dependency (a selector
that compares nothing, a numerical SequenceMap whose first MLP reads only one
input).  Everything here is plain data over :class:`compiler.artifact.ModelLayout`
and numpy parameters (read by ``param_path``), so it works the same for a freshly
compiled model and for one loaded from disk, and serialises to JSON.

Component names: ``embed`` (token embedding), ``pos_embed``, ``L{l}H{h}`` (head
``h`` of layer ``l``), ``L{l}MLP[a:b]`` (hidden neurons ``a..b-1`` of layer
``l``'s MLP), and ``unembed`` (the read-out of the output node).  Each also
names the TransformerLens hook where its output is visible (``hook_name``;
``resid_hook`` and ``hook_sublayer``, re-exported here, map sub-layers to residual
hooks and back).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np

from compiler.artifact import (
    Component,
    ComponentKind,
    HookPoint,
    ModelLayout,
    ParamModule,
    count_layers,
    decode_value,
    encode_value,
    hook_name,
    hook_sublayer,
    param_path,
    resid_hook,
)
from rasp.errors import RaspcValueError

__all__ = [
    "CircuitComponent",
    "CircuitEdge",
    "CircuitMap",
    "EMBEDDING_OF",
    "NodeCircuit",
    "build_circuit",
    "circuit_map",
    "hook_sublayer",
    "resid_hook",
]

FORMAT = "raspc-circuit"
VERSION = 1

EMBEDDING_OF = {
    "TokensType": "embed",
    "Full": "embed",
    "IndicesType": "pos_embed",
    "ConstantSOp": "pos_embed",
}
"""Which embedding writes each kind of input node (the others are computed by blocks)."""


@dataclass(frozen=True)
class NodeCircuit:
    """Where one RASP node (SOp) lives.

    ``computed_by`` names the components that compute it, in the order they run
    (``embed``/``pos_embed`` for inputs); the last one writes ``directions``, and
    earlier ones write the node's ``scratch`` directions (e.g. a SelectorWidth's
    head writes ``1 / (width + 1)`` for its MLP).  ``ready`` is the sub-layer after
    which the value is in the stream, visible at ``hook``.
    """

    label: str
    kind: str
    encoding: str  # "categorical" or "numerical"
    values: tuple  # categorical: the value of each direction; numerical: ()
    computed_by: tuple[str, ...]
    directions: tuple[int, ...]
    direction_labels: tuple[str, ...]
    scratch: tuple[int, ...]
    scratch_labels: tuple[str, ...]
    reads: tuple[str, ...]  # RASP nodes it reads (through selectors too)
    ready: int
    hook: str

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "kind": self.kind,
            "encoding": self.encoding,
            "values": [encode_value(v) for v in self.values],
            "computed_by": list(self.computed_by),
            "directions": list(self.directions),
            "direction_labels": list(self.direction_labels),
            "scratch": list(self.scratch),
            "scratch_labels": list(self.scratch_labels),
            "reads": list(self.reads),
            "ready": self.ready,
            "hook": self.hook,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> NodeCircuit:
        return cls(
            label=data["label"],
            kind=data["kind"],
            encoding=data["encoding"],
            values=tuple(decode_value(v) for v in data["values"]),
            computed_by=tuple(data["computed_by"]),
            directions=tuple(data["directions"]),
            direction_labels=tuple(data["direction_labels"]),
            scratch=tuple(data["scratch"]),
            scratch_labels=tuple(data["scratch_labels"]),
            reads=tuple(data["reads"]),
            ready=data["ready"],
            hook=data["hook"],
        )


@dataclass(frozen=True)
class CircuitComponent:
    """One component of the model and the residual directions it reads and writes.

    ``span`` is ``(h, h + 1)`` for head ``h`` or the hidden-neuron range ``(a, b)``
    of an MLP slice (None for embeddings and the unembedding).  For a head,
    ``query``/``key``/``value`` split ``reads`` by how it is read; ``hook`` is the
    TransformerLens activation holding the component's output (index it with
    ``span``: ``cache[hook][:, :, h]`` for a head's ``hook_result``,
    ``cache[hook][:, :, a:b]`` for an MLP's ``hook_post``).
    """

    name: str
    kind: str  # "embed", "pos_embed", "attn", "mlp" or "unembed"
    layer: int  # -1 for embeddings, num_layers for the unembedding
    sublayer: int  # -1 for embeddings, 2l (attn) / 2l+1 (mlp), 2 * num_layers for unembed
    span: tuple[int, int] | None
    nodes: tuple[str, ...]  # RASP nodes it computes (or helps compute)
    reads: tuple[int, ...]
    writes: tuple[int, ...]
    hook: str
    query: tuple[int, ...] = ()
    key: tuple[int, ...] = ()
    value: tuple[int, ...] = ()

    @property
    def head(self) -> int | None:
        return self.span[0] if self.kind == "attn" and self.span else None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "layer": self.layer,
            "sublayer": self.sublayer,
            "span": list(self.span) if self.span else None,
            "nodes": list(self.nodes),
            "reads": list(self.reads),
            "writes": list(self.writes),
            "hook": self.hook,
            "query": list(self.query),
            "key": list(self.key),
            "value": list(self.value),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CircuitComponent:
        span = data["span"]
        return cls(
            name=data["name"],
            kind=data["kind"],
            layer=data["layer"],
            sublayer=data["sublayer"],
            span=tuple(span) if span is not None else None,
            nodes=tuple(data["nodes"]),
            reads=tuple(data["reads"]),
            writes=tuple(data["writes"]),
            hook=data["hook"],
            query=tuple(data["query"]),
            key=tuple(data["key"]),
            value=tuple(data["value"]),
        )


@dataclass(frozen=True)
class CircuitEdge:
    """``dst`` reads residual ``directions`` that ``src`` writes.

    ``nodes`` are the RASP nodes those directions belong to (empty when only the
    ``one``/BOS directions, which act as biases, flow); ``roles`` say how a head
    reads them (``q``, ``k``, ``v``), or ``in`` for an MLP or the unembedding.
    """

    src: str
    dst: str
    directions: tuple[int, ...]
    nodes: tuple[str, ...]
    roles: tuple[str, ...]

    @property
    def bias_only(self) -> bool:
        return not self.nodes

    def to_json(self) -> dict[str, Any]:
        return {
            "src": self.src,
            "dst": self.dst,
            "directions": list(self.directions),
            "nodes": list(self.nodes),
            "roles": list(self.roles),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CircuitEdge:
        return cls(
            src=data["src"],
            dst=data["dst"],
            directions=tuple(data["directions"]),
            nodes=tuple(data["nodes"]),
            roles=tuple(data["roles"]),
        )


@dataclass(frozen=True)
class CircuitMap:
    """Every node, component and ground-truth edge of a compiled model."""

    output: str
    residual_labels: tuple[str, ...]
    num_layers: int
    num_heads: int
    nodes: dict[str, NodeCircuit]  # in dependency order
    components: dict[str, CircuitComponent]  # in the order they run
    edges: tuple[CircuitEdge, ...] = field(default=())

    def node(self, label: str) -> NodeCircuit:
        """The node ``label``; the error lists the known labels."""
        if label not in self.nodes:
            raise RaspcValueError(
                f"no node {label!r} in this model; its nodes are {list(self.nodes)}"
            )
        return self.nodes[label]

    def component(self, name: str) -> CircuitComponent:
        if name not in self.components:
            raise RaspcValueError(
                f"no component {name!r} in this model; its components are {list(self.components)}"
            )
        return self.components[name]

    def head(self, label: str) -> tuple[int, int]:
        """``(layer, head)`` of the attention head that computes node ``label``."""
        heads = [
            self.components[name]
            for name in self.node(label).computed_by
            if self.components[name].kind == "attn"
        ]
        if not heads:
            raise RaspcValueError(
                f"node {label!r} ({self.nodes[label].kind}) is computed by "
                f"{list(self.nodes[label].computed_by) or 'the embeddings'}, not by an attention "
                "head; heads compute Aggregate, SelectorWidth and length nodes"
            )
        return heads[0].layer, heads[0].span[0]

    def direction_owner(self, index: int) -> str | None:
        """The RASP node whose (own or scratch) direction ``index`` is; None for
        ``one`` and BOS."""
        return _owners(self.nodes).get(index)

    def graph(self, *, merge_mlps: bool = False, bias: bool = False) -> nx.DiGraph:
        """The ground-truth circuit as a DAG over components (plus ``unembed``).

        Edge attributes: ``nodes`` (RASP labels that flow), ``directions`` (residual
        labels), ``roles`` (q/k/v/in).  ``merge_mlps`` joins each layer's MLP slices
        into one ``L{l}MLP`` node, as tools that treat a whole MLP as one unit
        expect; ``bias`` keeps edges that carry only the ``one``/BOS directions.
        """
        rename = {
            name: (f"L{c.layer}MLP" if merge_mlps and c.kind == "mlp" else name)
            for name, c in self.components.items()
        }
        g = nx.DiGraph()
        for name, c in self.components.items():
            key = rename[name]
            if key in g:
                data = g.nodes[key]
                data["nodes"] = list(dict.fromkeys([*data["nodes"], *c.nodes]))
                data["spans"].append(list(c.span) if c.span else None)
                continue
            g.add_node(
                key,
                kind=c.kind,
                layer=c.layer,
                sublayer=c.sublayer,
                head=c.head,
                spans=[list(c.span) if c.span else None],
                nodes=list(c.nodes),
                hook=c.hook,
            )
        for e in self.edges:
            if e.bias_only and not bias:
                continue
            src, dst = rename[e.src], rename[e.dst]
            labels = [self.residual_labels[i] for i in e.directions]
            if g.has_edge(src, dst):
                data = g.edges[src, dst]
                data["nodes"] = list(dict.fromkeys([*data["nodes"], *e.nodes]))
                data["directions"] = list(dict.fromkeys([*data["directions"], *labels]))
                data["roles"] = list(dict.fromkeys([*data["roles"], *e.roles]))
            else:
                g.add_edge(src, dst, nodes=list(e.nodes), directions=labels, roles=list(e.roles))
        return g

    def summary(self) -> str:
        """A plain-text table: each node, where it is computed, its directions, its inputs."""
        rows = [("node", "kind", "computed by", "residual", "reads")]
        for n in self.nodes.values():
            dirs = _ranges(n.directions)
            rows.append(
                (n.label, n.kind, ", ".join(n.computed_by) or "-", dirs, ", ".join(n.reads))
            )
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)) + "  " + r[4] for r in rows]
        return "\n".join(line.rstrip() for line in lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "output": self.output,
            "residual_labels": list(self.residual_labels),
            "num_layers": self.num_layers,
            "num_heads": self.num_heads,
            "nodes": [n.to_json() for n in self.nodes.values()],
            "components": [c.to_json() for c in self.components.values()],
            "edges": [e.to_json() for e in self.edges],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CircuitMap:
        if data.get("format") != FORMAT or data.get("version") != VERSION:
            raise RaspcValueError(
                f"not a circuit map: format {data.get('format')!r} version "
                f"{data.get('version')!r}, expected {FORMAT!r} version {VERSION}; write one with "
                "CircuitMap.to_json()"
            )
        nodes = [NodeCircuit.from_json(n) for n in data["nodes"]]
        comps = [CircuitComponent.from_json(c) for c in data["components"]]
        return cls(
            output=data["output"],
            residual_labels=tuple(data["residual_labels"]),
            num_layers=data["num_layers"],
            num_heads=data["num_heads"],
            nodes={n.label: n for n in nodes},
            components={c.name: c for c in comps},
            edges=tuple(CircuitEdge.from_json(e) for e in data["edges"]),
        )


def _ranges(indices: tuple[int, ...]) -> str:
    """``(3, 4, 5, 9)`` -> ``"3-5,9"``."""
    if not indices:
        return "-"
    parts: list[str] = []
    start = prev = indices[0]
    for i in (*indices[1:], None):
        if i is not None and i == prev + 1:
            prev = i
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if i is not None:
            start = prev = i
    return ",".join(parts)


def _owners(nodes: Mapping[str, NodeCircuit]) -> dict[int, str]:
    owners: dict[int, str] = {}
    for n in nodes.values():
        for i in (*n.directions, *n.scratch):
            owners[i] = n.label
    return owners


def _nonzero_rows(matrix: np.ndarray) -> tuple[int, ...]:
    return tuple(int(i) for i in np.flatnonzero(np.any(matrix != 0, axis=1)))


def _param(params: Mapping[str, Mapping[str, Any]], module: str, name: str) -> np.ndarray:
    try:
        return np.asarray(params[module][name], dtype=np.float64)
    except KeyError:
        raise RaspcValueError(
            f"the parameters have no {module}/{name}; expected a compiled model's Haiku params"
        ) from None


def _heads_and_mlps(
    layout: ModelLayout, params: Mapping[str, Mapping[str, Any]], num_heads: int
) -> list[CircuitComponent]:
    """Every head and MLP slice the layout places, with reads and writes from the weights."""
    by_slot: dict[Component, list[str]] = {}
    for n in layout.nodes.values():
        for c in n.components:
            by_slot.setdefault(c, []).append(n.label)
    out = []
    for c in sorted(by_slot, key=lambda c: (c.sublayer, c.start)):

        def w(module: ParamModule, c: Component = c) -> np.ndarray:
            return _param(params, param_path(module, c.layer), "w")

        if c.kind == ComponentKind.ATTN:
            q = w(ParamModule.QUERY)
            d = q.shape[0]
            q = q.reshape(d, num_heads, -1)[:, c.start]  # [D, K]
            k = w(ParamModule.KEY).reshape(d, num_heads, -1)[:, c.start]
            v = w(ParamModule.VALUE).reshape(d, num_heads, -1)[:, c.start]
            o = w(ParamModule.ATTN_OUT).reshape(num_heads, -1, d)[c.start]
            qk, ov = q @ k.T, v @ o  # [D, D] each
            query, key, value = _nonzero_rows(qk), _nonzero_rows(qk.T), _nonzero_rows(ov)
            writes = _nonzero_rows(ov.T)
            reads = tuple(sorted({*query, *key, *value}))
            hook = hook_name(HookPoint.ATTN_RESULT, c.layer)
            sublayer = 2 * c.layer
        else:
            w_in = w(ParamModule.MLP_IN)[:, c.start : c.stop]
            w_out = w(ParamModule.MLP_OUT)[c.start : c.stop]
            reads, writes = _nonzero_rows(w_in), _nonzero_rows(w_out.T)
            query = key = value = ()
            hook = hook_name(HookPoint.MLP_POST, c.layer)
            sublayer = 2 * c.layer + 1
        out.append(
            CircuitComponent(
                name=c.name,
                kind=c.kind,
                layer=c.layer,
                sublayer=sublayer,
                span=(c.start, c.stop),
                nodes=tuple(by_slot[c]),
                reads=reads,
                writes=writes,
                hook=hook,
                query=query,
                key=key,
                value=value,
            )
        )
    return out


def _edges(
    components: list[CircuitComponent], owners: Mapping[int, str]
) -> tuple[CircuitEdge, ...]:
    """``A -> B`` for every direction ``B`` reads that an earlier ``A`` writes."""
    edges = []
    for b in components:
        roles_of: dict[int, list[str]] = {}
        if b.kind == "attn":
            for role, indices in (("q", b.query), ("k", b.key), ("v", b.value)):
                for i in indices:
                    roles_of.setdefault(i, []).append(role)
        else:
            for i in b.reads:
                roles_of[i] = ["in"]
        for a in components:
            if a.sublayer >= b.sublayer:
                continue
            shared = tuple(i for i in a.writes if i in roles_of)
            if not shared:
                continue
            nodes = tuple(dict.fromkeys(owners[i] for i in shared if i in owners))
            roles = tuple(r for r in ("q", "k", "v", "in") if any(r in roles_of[i] for i in shared))
            edges.append(CircuitEdge(a.name, b.name, shared, nodes, roles))
    return tuple(edges)


def build_circuit(
    layout: ModelLayout, params: Mapping[str, Mapping[str, Any]], num_heads: int
) -> CircuitMap:
    """The circuit map of a model from its layout and (numpy or jax) parameters."""
    labels = layout.residual_labels
    num_layers = count_layers(params)
    token_embed = _param(params, param_path(ParamModule.TOKEN_EMBED), "embeddings")
    pos_embed = _param(params, param_path(ParamModule.POS_EMBED), "embeddings")
    embed_nodes = {"embed": [], "pos_embed": []}
    for n in layout.nodes.values():
        if not n.components and n.kind in EMBEDDING_OF:
            embed_nodes[EMBEDDING_OF[n.kind]].append(n.label)
    embeddings = [
        CircuitComponent(
            name=name,
            kind=name,
            layer=-1,
            sublayer=-1,
            span=None,
            nodes=tuple(embed_nodes[name]),
            reads=(),
            writes=_nonzero_rows(matrix.T),
            hook=hook_name(point),
        )
        for name, point, matrix in (
            ("embed", HookPoint.EMBED, token_embed),
            ("pos_embed", HookPoint.POS_EMBED, pos_embed),
        )
    ]
    out_node = layout.output_node
    unembed = CircuitComponent(
        name="unembed",
        kind="unembed",
        layer=num_layers,
        sublayer=2 * num_layers,
        span=None,
        nodes=(),
        reads=out_node.residual,
        writes=(),
        hook=resid_hook(2 * num_layers - 1),
    )
    components = [*embeddings, *_heads_and_mlps(layout, params, num_heads), unembed]
    nodes = {}
    for n in layout.nodes.values():
        computed_by = tuple(c.name for c in n.components)
        if not computed_by and n.kind in EMBEDDING_OF:
            computed_by = (EMBEDDING_OF[n.kind],)
        nodes[n.label] = NodeCircuit(
            label=n.label,
            kind=n.kind,
            encoding=n.encoding,
            values=n.values,
            computed_by=computed_by,
            directions=n.residual,
            direction_labels=tuple(labels[i] for i in n.residual),
            scratch=n.scratch,
            scratch_labels=tuple(labels[i] for i in n.scratch),
            reads=n.reads,
            ready=n.ready,
            hook=resid_hook(n.ready),
        )
    return CircuitMap(
        output=layout.output,
        residual_labels=labels,
        num_layers=num_layers,
        num_heads=num_heads,
        nodes=nodes,
        components={c.name: c for c in components},
        edges=_edges(components, _owners(nodes)),
    )


def circuit_map(model: Any) -> CircuitMap:
    """The circuit map of a compiled model (``compiler.compile_rasp`` result, a
    ``CompiledModel``, or a model loaded with ``models.load_model``).

    >>> import rasp, compiler
    >>> from rasp import lib
    >>> circuit = circuit_map(compiler.compile_rasp(lib.make_reverse(rasp.tokens), {"a", "b"}, 3))
    >>> circuit.node("reverse").computed_by, circuit.head("reverse")
    (('L2H0',), (2, 0))
    >>> sorted(circuit.graph().predecessors("L2H0"))
    ['L1MLP[0:9]', 'embed', 'pos_embed']
    """
    config = getattr(model, "model_config", None) or getattr(model, "config", None)
    layout = getattr(model, "layout", None)
    params = getattr(model, "params", None)
    if config is None or layout is None or params is None:
        raise RaspcValueError(
            f"circuit_map needs a compiled model (with layout, params and a config), found "
            f"{type(model).__name__}; pass compiler.compile_rasp(...) or a CompiledModel"
        )
    return build_circuit(layout, params, config.num_heads)
