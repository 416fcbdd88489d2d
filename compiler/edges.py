"""Ground-truth edges in the circuit-discovery tools' own terms.

Circuit tools (auto-circuit, ACDC, edge attribution patching) see a transformer as a
graph of sources (``Resid Start``: the embeddings; ``A{l}.{h}``: a head's output;
``MLP {l}``: a whole MLP layer) and destinations (``A{l}.{h}.Q``/``.K``/``.V``: one
input of a head; ``MLP {l}``; ``Resid End``: the read-out), with an edge
``src->dst`` wherever ``src`` runs first.  This module says which of those edges
carry the compiled program, from the weights (:mod:`compiler.circuit`), per role:
``embed -> L2H0`` of reverse becomes ``Resid Start->A2.0.V`` (the tokens flow) plus
``Resid Start->A2.0.Q`` and ``.K`` that carry only constants.

An edge is **bias-only** when nothing that varies with the input flows through it:
only the ``one``/BOS directions, or a categorical node read through identical rows
(the role sees the same vector whatever the value is, so it acts as a constant, as
``Select(tokens, tokens, TRUE)`` does).  Bias-only edges stay in the set by default:
zero ablation removes the constants and breaks the model, while resample ablation
(clean vs corrupt inputs) leaves them alone unless the corruption changes which
positions exist, which is why :mod:`models.prompts` varies lengths.

Plain data, numpy only; :meth:`EdgeSet.to_json` also names the raspc components.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from compiler.artifact import ParamModule, param_path
from compiler.circuit import CircuitComponent, CircuitMap
from rasp.errors import RaspcValueError

__all__ = ["Edge", "EdgeSet", "all_edges", "edge_set", "RESID_START", "RESID_END"]

FORMAT = "raspc-edges"
VERSION = 1
RESID_START = "Resid Start"
RESID_END = "Resid End"


@dataclass(frozen=True)
class Edge:
    """One ground-truth edge ``src->dst`` in auto-circuit's naming.

    ``nodes``: RASP nodes whose values really flow; ``constants``: nodes (or ``one``/
    ``bos``) that flow only as constants; ``components``: the raspc components
    (``(src, dst)`` pairs) behind it.
    """

    src: str
    dst: str
    nodes: tuple[str, ...]
    constants: tuple[str, ...]
    components: tuple[tuple[str, str], ...]

    @property
    def name(self) -> str:
        return f"{self.src}->{self.dst}"

    @property
    def bias_only(self) -> bool:
        return not self.nodes

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "src": self.src,
            "dst": self.dst,
            "bias_only": self.bias_only,
            "nodes": list(self.nodes),
            "constants": list(self.constants),
            "raspc": [list(pair) for pair in self.components],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Edge:
        return cls(
            src=data["src"],
            dst=data["dst"],
            nodes=tuple(data["nodes"]),
            constants=tuple(data["constants"]),
            components=tuple(tuple(p) for p in data["raspc"]),
        )


@dataclass(frozen=True)
class EdgeSet:
    """The ground-truth edges of one model, and the size of its full edge graph."""

    edges: tuple[Edge, ...]
    num_layers: int
    num_heads: int

    def names(self, *, bias: bool = True) -> set[str]:
        """Edge names (``"Resid Start->A2.0.V"``); ``bias=False`` drops bias-only edges."""
        return {e.name for e in self.edges if bias or not e.bias_only}

    def edge(self, name: str) -> Edge:
        for e in self.edges:
            if e.name == name:
                return e
        raise RaspcValueError(
            f"no ground-truth edge {name!r}; the edges are {sorted(self.names())}"
        )

    def all_names(self) -> list[str]:
        """Every edge of the model's graph, in auto-circuit's order (sources by layer)."""
        return all_edges(self.num_layers, self.num_heads)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "num_layers": self.num_layers,
            "num_heads": self.num_heads,
            "edges": [e.to_json() for e in self.edges],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> EdgeSet:
        if data.get("format") != FORMAT or data.get("version") != VERSION:
            raise RaspcValueError(
                f"not an edge set: format {data.get('format')!r} version {data.get('version')!r}"
                f", expected {FORMAT!r} version {VERSION}; write one with EdgeSet.to_json()"
            )
        return cls(
            edges=tuple(Edge.from_json(e) for e in data["edges"]),
            num_layers=data["num_layers"],
            num_heads=data["num_heads"],
        )


def _src_name(c: CircuitComponent) -> str:
    if c.kind in ("embed", "pos_embed"):
        return RESID_START
    if c.kind == "attn":
        return f"A{c.layer}.{c.span[0]}"
    return f"MLP {c.layer}"


def _src_rank(name: str) -> int:
    """auto-circuit's layer of a source (Resid Start 0, then attn / MLP alternating)."""
    if name == RESID_START:
        return 0
    if name.startswith("A"):
        return 1 + 2 * int(name[1:].split(".")[0])
    return 2 + 2 * int(name.split()[1])


def _dst_rank(name: str, num_layers: int) -> int:
    if name == RESID_END:
        return 2 * num_layers + 1
    if name.startswith("A"):
        return 1 + 2 * int(name[1:].split(".")[0])
    return 2 + 2 * int(name.split()[1])


def all_edges(num_layers: int, num_heads: int) -> list[str]:
    """Every ``src->dst`` name of a factorized transformer graph with split q/k/v inputs."""
    srcs = [RESID_START]
    dsts = []
    for layer in range(num_layers):
        srcs += [f"A{layer}.{h}" for h in range(num_heads)] + [f"MLP {layer}"]
        dsts += [f"A{layer}.{h}.{r}" for h in range(num_heads) for r in "QKV"]
        dsts.append(f"MLP {layer}")
    dsts.append(RESID_END)
    return [f"{s}->{d}" for s in srcs for d in dsts if _src_rank(s) < _dst_rank(d, num_layers)]


def _role_rows(params: Mapping[str, Mapping[str, Any]], c: CircuitComponent, num_heads: int):
    """``{role: matrix [D, *]}`` whose rows say how the component reads each direction."""

    def get(module: ParamModule) -> np.ndarray:
        return np.asarray(params[param_path(module, c.layer)]["w"], np.float64)

    if c.kind == "attn":
        h = c.span[0]
        q = get(ParamModule.QUERY)
        d = q.shape[0]
        q = q.reshape(d, num_heads, -1)[:, h]
        k = get(ParamModule.KEY).reshape(d, num_heads, -1)[:, h]
        v = get(ParamModule.VALUE).reshape(d, num_heads, -1)[:, h]
        o = get(ParamModule.ATTN_OUT).reshape(num_heads, -1, d)[h]
        qk = q @ k.T
        return {"Q": qk, "K": qk.T, "V": v @ o}
    if c.kind == "mlp":
        return {"": get(ParamModule.MLP_IN)[:, c.span[0] : c.span[1]]}
    return {"": None}  # unembed: reads the output node's directions one by one


def _flowing(
    circuit: CircuitMap,
    shared: Iterable[int],
    rows: np.ndarray | None,
    may_be_none: set[str] | None,
) -> tuple[list[str], list[str]]:
    """Split the nodes behind ``shared`` directions into varying and constant ones."""
    by_node: dict[str, list[int]] = {}
    constants: list[str] = []
    for i in shared:
        owner = circuit.direction_owner(i)
        if owner is None:
            constants.append(circuit.residual_labels[i])
        else:
            by_node.setdefault(owner, []).append(i)
    varying = []
    for label, dirs in by_node.items():
        node = circuit.nodes[label]
        if (
            rows is not None
            and node.encoding == "categorical"
            and set(dirs) >= set(node.directions)
        ):
            block = rows[list(node.directions)]
            can_be_none = may_be_none is None or label in may_be_none
            if np.allclose(block, block[:1]) and not can_be_none:
                constants.append(label)  # one-hot read through equal rows: a constant
                continue
        varying.append(label)
    return varying, list(dict.fromkeys(constants))


def edge_set(
    circuit: CircuitMap,
    params: Mapping[str, Mapping[str, Any]],
    *,
    values: Mapping[str, Any] | None = None,
) -> EdgeSet:
    """The ground-truth edges of a compiled model in auto-circuit's naming.

    ``values`` (the compiler's value sets, ``CompiledProgram.values``) tells which nodes
    can be None; without it a categorical node read through equal rows still counts
    as varying (it might be absent, the all-zero vector).
    """
    may_be_none = None
    if values is not None:
        may_be_none = {label for label, s in values.items() if s is None or None in s}
    found: dict[tuple[str, str], dict[str, list]] = {}
    comps = list(circuit.components.values())
    for b in comps:
        if b.kind in ("embed", "pos_embed"):
            continue
        role_rows = _role_rows(params, b, circuit.num_heads)
        for role, rows in role_rows.items():
            reads = {"Q": b.query, "K": b.key, "V": b.value}.get(role, b.reads)
            if b.kind == "attn":
                dst = f"A{b.layer}.{b.span[0]}.{role}"
            elif b.kind == "mlp":
                dst = f"MLP {b.layer}"
            else:
                dst = RESID_END
            for a in comps:
                if a.sublayer >= b.sublayer or a.kind == "unembed":
                    continue
                shared = [i for i in a.writes if i in set(reads)]
                if not shared:
                    continue
                varying, constants = _flowing(circuit, shared, rows, may_be_none)
                slot = found.setdefault(
                    (_src_name(a), dst), {"nodes": [], "constants": [], "raspc": []}
                )
                slot["nodes"] += varying
                slot["constants"] += constants
                slot["raspc"].append((a.name, b.name))
    edges = []
    for (src, dst), data in found.items():
        nodes = tuple(dict.fromkeys(data["nodes"]))
        edges.append(
            Edge(
                src=src,
                dst=dst,
                nodes=nodes,
                constants=tuple(c for c in dict.fromkeys(data["constants"]) if c not in nodes),
                components=tuple(dict.fromkeys(data["raspc"])),
            )
        )
    order = {name: i for i, name in enumerate(all_edges(circuit.num_layers, circuit.num_heads))}
    edges.sort(key=lambda e: order[e.name])
    return EdgeSet(tuple(edges), circuit.num_layers, circuit.num_heads)
