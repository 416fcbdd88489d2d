"""The compiled artifact: the one data contract between the compiler and any back end.

A compiled model is plain data, and this module owns all of it:

* :class:`ModelConfig`: the shapes (Tracr's ``model_config`` fields);
* the parameters (:data:`Params`), named by :func:`param_path` (Haiku's paths,
  ``transformer/layer_{l}/attn/query``, so tools written for Tracr models read ours)
  with the shapes :func:`param_shapes` lists;
* :class:`ModelLayout`: where every RASP node lives (:class:`Component`,
  :class:`NodeLayout`) and every value it can take (``NodeLayout.value_set``), with
  its JSON form (:func:`encode_value` keeps value types);
* :func:`hook_name`: the TransformerLens names of the activations
  (``blocks.{l}.attn.hook_z``), which the activation cache fills and the exporters'
  models expose.

The compiler writes these (:mod:`compiler.weights`, :mod:`compiler.layout`); the
back end in ``models`` (the Haiku model, cache, exporters, file format, compression)
reads them, and nothing else spells a path or hook name.  Kinds are enums
(:class:`Encoding`, :class:`ComponentKind`, :class:`ParamModule`, :class:`HookPoint`)
that are also ``str``, so JSON and older string comparisons keep working.  Numpy
only: this module imports no compiler pass, so a loader needs nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np

from rasp.errors import RaspcValueError

__all__ = [
    "Component",
    "ComponentKind",
    "EXPORT_ONLY_HOOKS",
    "Encoding",
    "HookPoint",
    "MODEL_SCOPE",
    "ModelConfig",
    "ModelLayout",
    "NodeLayout",
    "ParamModule",
    "Params",
    "count_layers",
    "decode_value",
    "encode_value",
    "hook_name",
    "hook_names",
    "hook_sublayer",
    "layer_scope",
    "param_path",
    "param_shapes",
    "parse_hook",
    "resid_hook",
]

Params = dict[str, dict[str, np.ndarray]]
"""``{param_path(...): {array name: array}}``; array names are Haiku's (``w``, ``b``,
``embeddings``)."""


# ---------------------------------------------------------------- config


@dataclass(frozen=True)
class ModelConfig:
    """Tracr's ``model_config`` fields, plus the shapes a loader needs."""

    num_layers: int
    num_heads: int
    key_size: int
    mlp_hidden_size: int
    d_model: int
    max_seq_len: int
    vocab_size: int
    causal: bool = False
    layer_norm: bool = False
    dropout_rate: float = 0.0
    activation: str = "relu"


# ---------------------------------------------------------------- parameter paths

MODEL_SCOPE = "transformer"
"""The Haiku name scope holding every layer's modules."""


def layer_scope(layer: int) -> str:
    """The Haiku name scope of layer ``layer`` inside :data:`MODEL_SCOPE`."""
    return f"layer_{layer}"


class ParamModule(StrEnum):
    """One parameter module; per-layer ones are ``{sub-layer scope}/{module}``."""

    TOKEN_EMBED = "token_embed"
    POS_EMBED = "pos_embed"
    QUERY = "attn/query"
    KEY = "attn/key"
    VALUE = "attn/value"
    ATTN_OUT = "attn/linear"
    MLP_IN = "mlp/linear_1"
    MLP_OUT = "mlp/linear_2"

    @property
    def per_layer(self) -> bool:
        return "/" in self.value

    @property
    def scope(self) -> str:
        """The sub-layer's Haiku scope (``attn`` or ``mlp``); empty for embeddings."""
        return self.value.rpartition("/")[0]

    @property
    def leaf(self) -> str:
        """The Haiku module name inside :attr:`scope` (``query``, ``linear_1``, ...)."""
        return self.value.rpartition("/")[2]


ATTENTION_MODULES = (ParamModule.QUERY, ParamModule.KEY, ParamModule.VALUE, ParamModule.ATTN_OUT)
MLP_MODULES = (ParamModule.MLP_IN, ParamModule.MLP_OUT)


def param_path(module: ParamModule, layer: int | None = None) -> str:
    """The params key of ``module`` (in ``layer`` for per-layer modules):
    ``param_path(ParamModule.QUERY, 2) == "transformer/layer_2/attn/query"``."""
    return _layered_name(
        "param_path", ParamModule(module), layer, lambda n: f"{MODEL_SCOPE}/{layer_scope(n)}/"
    )


def _layered_name(
    caller: str,
    member: ParamModule | HookPoint,
    layer: int | None,
    scope: Callable[[int], str],
) -> str:
    """``member``'s name, behind ``scope(layer)`` for a per-layer member; shared by
    :func:`param_path` and :func:`hook_name` so both reject a wrong ``layer`` the same way."""
    if member.per_layer != (layer is not None):
        need = "a layer" if member.per_layer else "no layer"
        raise RaspcValueError(f"{caller}: {member.name} takes {need}, found layer={layer!r}")
    if layer is None:
        return member.value
    if isinstance(layer, bool) or not isinstance(layer, int) or layer < 0:
        raise RaspcValueError(f"{caller}: layer must be an int >= 0, found {layer!r}")
    return f"{scope(layer)}{member.value}"


def param_shapes(cfg: ModelConfig) -> dict[str, dict[str, tuple[int, ...]]]:
    """Every parameter a compiled model of ``cfg`` has: path -> array name -> shape.

    D = d_model, H*K = heads times key size, M = MLP width: embeddings [V, D] and
    [max_seq_len + 1, D]; query/key/value w [D, H*K]; the attention output w [H*K, D];
    MLP w [D, M] then [M, D]; each bias the width of its output.
    """
    d, hk, m = cfg.d_model, cfg.num_heads * cfg.key_size, cfg.mlp_hidden_size
    shapes = {
        param_path(ParamModule.TOKEN_EMBED): {"embeddings": (cfg.vocab_size, d)},
        param_path(ParamModule.POS_EMBED): {"embeddings": (cfg.max_seq_len + 1, d)},
    }
    sizes = {
        ParamModule.QUERY: (d, hk),
        ParamModule.KEY: (d, hk),
        ParamModule.VALUE: (d, hk),
        ParamModule.ATTN_OUT: (hk, d),
        ParamModule.MLP_IN: (d, m),
        ParamModule.MLP_OUT: (m, d),
    }
    for layer in range(cfg.num_layers):
        for module, (rows, cols) in sizes.items():
            shapes[param_path(module, layer)] = {"w": (rows, cols), "b": (cols,)}
    return shapes


def count_layers(params: Mapping[str, Any]) -> int:
    """How many layers ``params`` holds (layers are numbered from 0 without gaps)."""
    layers = 0
    while param_path(ParamModule.QUERY, layers) in params:
        layers += 1
    return layers


# ---------------------------------------------------------------- hook names


class HookPoint(StrEnum):
    """One TransformerLens activation; per-layer ones are relative to ``blocks.{l}``.
    Per-layer members are listed in the order the forward pass reaches them.  The
    export-only points (:data:`EXPORT_ONLY_HOOKS`) exist on a TransformerLens export
    but not in raspc's own activation cache."""

    EMBED = "hook_embed"
    POS_EMBED = "hook_pos_embed"
    UNEMBED_IN = "unembed.hook_in"  # the read-out's input
    RESID_PRE = "hook_resid_pre"
    ATTN_Q_INPUT = "hook_q_input"  # with use_split_qkv_input
    ATTN_K_INPUT = "hook_k_input"
    ATTN_V_INPUT = "hook_v_input"
    ATTN_Q = "attn.hook_q"
    ATTN_K = "attn.hook_k"
    ATTN_V = "attn.hook_v"
    ATTN_SCORES = "attn.hook_attn_scores"
    ATTN_PATTERN = "attn.hook_pattern"
    ATTN_Z = "attn.hook_z"
    ATTN_RESULT = "attn.hook_result"
    ATTN_OUT = "hook_attn_out"
    RESID_MID = "hook_resid_mid"
    MLP_IN = "hook_mlp_in"  # with use_hook_mlp_in
    MLP_PRE = "mlp.hook_pre"
    MLP_POST = "mlp.hook_post"
    MLP_OUT = "hook_mlp_out"
    RESID_POST = "hook_resid_post"

    @property
    def per_layer(self) -> bool:
        return self not in _MODEL_HOOKS


_MODEL_HOOKS = (HookPoint.EMBED, HookPoint.POS_EMBED, HookPoint.UNEMBED_IN)
_LAYER_HOOKS = tuple(p for p in HookPoint if p.per_layer)
EXPORT_ONLY_HOOKS = frozenset(
    {
        HookPoint.UNEMBED_IN,
        HookPoint.ATTN_Q_INPUT,
        HookPoint.ATTN_K_INPUT,
        HookPoint.ATTN_V_INPUT,
        HookPoint.MLP_IN,
    }
)
"""Points a TransformerLens export has and :func:`hook_names` (our cache) does not."""


def hook_name(point: HookPoint, layer: int | None = None) -> str:
    """The TransformerLens name of ``point`` (in ``layer`` for per-layer points):
    ``hook_name(HookPoint.ATTN_Z, 1) == "blocks.1.attn.hook_z"``."""
    return _layered_name("hook_name", HookPoint(point), layer, lambda n: f"blocks.{n}.")


def parse_hook(name: str) -> tuple[HookPoint, int | None]:
    """The point and layer of a hook name (inverse of :func:`hook_name`)."""
    try:
        point = HookPoint(name)
    except ValueError:
        pass
    else:
        if not point.per_layer:
            return point, None
    head, _, rest = name.partition(".")
    layer, _, suffix = rest.partition(".")
    if head == "blocks" and layer.isdigit() and suffix in {p.value for p in _LAYER_HOOKS}:
        return HookPoint(suffix), int(layer)
    raise RaspcValueError(
        f"{name!r} is not a TransformerLens hook name; expected one of "
        f"{[p.value for p in _MODEL_HOOKS]} or blocks.{{l}}.<hook>, e.g. "
        f"{hook_name(HookPoint.ATTN_PATTERN, 0)!r}"
    )


def hook_names(num_layers: int) -> list[str]:
    """Every hook the activation cache of a ``num_layers`` model fills, in the order
    the forward pass reaches them."""
    names = [hook_name(HookPoint.EMBED), hook_name(HookPoint.POS_EMBED)]
    for layer in range(num_layers):
        names += [hook_name(p, layer) for p in _LAYER_HOOKS if p not in EXPORT_ONLY_HOOKS]
    return names


def resid_hook(sublayer: int) -> str:
    """The hook holding the residual stream right after ``sublayer`` (-1: the
    embeddings; ``2l``: layer ``l``'s attention; ``2l + 1``: its MLP)."""
    if sublayer < 0:
        return hook_name(HookPoint.RESID_PRE, 0)
    layer, is_mlp = divmod(sublayer, 2)
    return hook_name(HookPoint.RESID_POST if is_mlp else HookPoint.RESID_MID, layer)


_RESID_OFFSET = {HookPoint.RESID_PRE: -1, HookPoint.RESID_MID: 0, HookPoint.RESID_POST: 1}


def hook_sublayer(name: str, num_layers: int) -> int:
    """The sub-layer after which the residual hook ``name`` is taken (inverse of
    :func:`resid_hook`; ``blocks.{l}.hook_resid_pre`` is the stream after sub-layer
    ``2l - 1``)."""
    try:
        point, layer = parse_hook(name)
    except RaspcValueError:
        point, layer = None, None
    if point in _RESID_OFFSET and layer is not None and layer < num_layers:
        return 2 * layer + _RESID_OFFSET[point]
    pattern = " / ".join(p.value for p in _RESID_OFFSET)
    raise RaspcValueError(
        f"{name!r} is not a residual-stream hook of a {num_layers}-layer model; expected "
        f"blocks.{{l}}.{pattern} with l < {num_layers}"
    )


# ---------------------------------------------------------------- the layout


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


class Encoding(StrEnum):
    """How a node is held in the residual stream."""

    CATEGORICAL = "categorical"  # one direction per value, one-hot
    NUMERICAL = "numerical"  # one direction holding the value


class ComponentKind(StrEnum):
    """Which kind of sub-layer block computes (part of) a node."""

    ATTN = "attn"
    MLP = "mlp"


@dataclass(frozen=True)
class Component:
    """One block of a node: attention head ``head`` of ``layer``, or MLP neurons
    ``[start, stop)`` of ``layer``."""

    kind: ComponentKind
    layer: int
    start: int  # head index, or first hidden neuron
    stop: int  # head index + 1, or one past the last hidden neuron

    @property
    def sublayer(self) -> int:
        return 2 * self.layer + (self.kind == ComponentKind.MLP)

    @property
    def name(self) -> str:
        if self.kind == ComponentKind.ATTN:
            return f"L{self.layer}H{self.start}"
        return f"L{self.layer}MLP[{self.start}:{self.stop}]"


@dataclass(frozen=True)
class NodeLayout:
    """Where one SOp lives, and every value it can take.

    ``kind`` is the RASP expression's type name (e.g. ``"Aggregate"``): an open set
    (programs may use compiler-internal node types), so a name, not an enum.
    ``value_set`` is the compiler's value-set pass's answer for this node, sorted
    (:func:`compiler.basis.sorted_values`), with None in it when the node can be
    absent; it is None when the set was too large to list or the model was saved
    before layouts carried it.  A numerical node's set is what decoding snaps to.
    """

    label: str
    kind: str
    encoding: Encoding
    values: tuple  # categorical: the value of each direction, in order; numerical: ()
    residual: tuple[int, ...]  # indices of its directions in the residual stream
    ready: int  # sub-layer after which it is in the stream (-1: embeddings)
    components: tuple[Component, ...]  # blocks computing it, in order
    reads: tuple[str, ...]  # SOps it reads (through selectors)
    scratch: tuple[int, ...] = ()  # residual directions its blocks use internally
    value_set: tuple | None = None

    @property
    def numbers(self) -> tuple | None:
        """A numerical node's possible values without None, in increasing order (None
        when unknown or empty)."""
        if self.value_set is None:
            return None
        found = tuple(sorted((v for v in self.value_set if v is not None), key=float))
        return found or None


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
            "nodes": [_node_json(n) for n in self.nodes.values()],
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
        nodes = {n["label"]: _node_from_json(n) for n in data["nodes"]}
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


def _node_json(n: NodeLayout) -> dict[str, Any]:
    return {
        "label": n.label,
        "kind": n.kind,
        "encoding": n.encoding.value,
        "values": [encode_value(v) for v in n.values],
        "residual": list(n.residual),
        "ready": n.ready,
        "components": [[c.kind.value, c.layer, c.start, c.stop] for c in n.components],
        "reads": list(n.reads),
        "scratch": list(n.scratch),
        "value_set": None if n.value_set is None else [encode_value(v) for v in n.value_set],
    }


def _enum(kind: type[StrEnum], raw: Any, what: str) -> Any:
    try:
        return kind(raw)
    except ValueError:
        choices = " or ".join(m.value for m in kind)
        raise RaspcValueError(f"{what} {raw!r}, expected {choices}") from None


def _node_from_json(n: dict[str, Any]) -> NodeLayout:
    value_set = n.get("value_set")  # absent in layouts saved before it existed
    return NodeLayout(
        label=n["label"],
        kind=n["kind"],
        encoding=_enum(Encoding, n["encoding"], f"node {n['label']!r}: encoding"),
        values=tuple(decode_value(v) for v in n["values"]),
        residual=tuple(n["residual"]),
        ready=n["ready"],
        components=tuple(
            Component(_enum(ComponentKind, k, f"node {n['label']!r}: component kind"), *rest)
            for k, *rest in n["components"]
        ),
        reads=tuple(n["reads"]),
        scratch=tuple(n["scratch"]),
        value_set=None if value_set is None else tuple(decode_value(v) for v in value_set),
    )
