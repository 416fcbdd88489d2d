"""Plots of a compiled model, every axis labelled with what the compiler put there.

* :func:`plot_residual`: the residual stream of one input after the embeddings
  and after every sub-layer, one column per labelled direction (``label:value``);
* :func:`plot_attention`: every head's attention pattern on one input, titled
  with the node the head computes;
* :func:`plot_weights`: a head's QK matrix (the logit a query direction gives
  a key direction), its OV matrix (what each read direction writes), or an
  MLP's input and output weights, rows and columns labelled with residual
  directions and hidden neurons with the node they compute;
* :func:`plot_circuit`: the ground-truth circuit graph of :mod:`compiler.circuit`.

Each writes a PNG or SVG (chosen by the file suffix) and returns the path.
matplotlib (the ``plot`` extra) is imported inside the functions, and figures
are drawn on the Agg canvas directly, so no GUI backend is touched.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from compiler.artifact import HookPoint, ParamModule, hook_name, param_path, resid_hook
from compiler.circuit import CircuitMap, circuit_map
from models.cache import run_with_cache
from rasp.errors import RaspcValueError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["plot_attention", "plot_circuit", "plot_residual", "plot_weights"]

SUFFIXES = (".png", ".svg")


def _figure(width: float, height: float) -> Figure:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as err:
        raise RaspcValueError(
            f"plots need matplotlib ({err}); install it with: pip install 'raspc[plot]'"
        ) from err
    fig = Figure(figsize=(min(width, 60.0), min(height, 60.0)), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _check_path(path: str | Path) -> Path:
    path = Path(path)
    if path.suffix.lower() not in SUFFIXES:
        raise RaspcValueError(
            f"cannot tell the image format of {str(path)!r}: its suffix is "
            f"{path.suffix or 'missing'}; use one of {', '.join(SUFFIXES)}"
        )
    return path


def _save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    return path


def _heatmap(ax: Axes, matrix: np.ndarray, rows: Sequence[str], cols: Sequence[str]) -> Any:
    limit = float(np.abs(matrix).max()) or 1.0
    image = ax.imshow(matrix, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
    ax.set_yticks(range(len(rows)), [str(r) for r in rows], fontsize=7)
    ax.set_xticks(range(len(cols)), [str(c) for c in cols], fontsize=7, rotation=90)
    return image


def _token_labels(tokens: Sequence[Any]) -> list[str]:
    return [str(t) for t in tokens]


def plot_residual(model: Any, tokens: Sequence[Any], path: str | Path) -> Path:
    """The residual stream of ``tokens`` (one input starting with BOS) after the
    embeddings and after every sub-layer: rows are positions, columns the labelled
    residual directions, so each node's value appears where the compiler put it."""
    path = _check_path(path)
    _, cache = run_with_cache(model, list(tokens))
    num_layers = model.model_config.num_layers
    names = [resid_hook(sublayer) for sublayer in range(-1, 2 * num_layers)]
    titles = ["embeddings"]
    for layer in range(num_layers):
        titles += [f"after layer {layer} attention", f"after layer {layer} MLP"]
    labels = model.residual_labels
    rows = _token_labels(tokens)
    fig = _figure(3 + 0.22 * len(labels), 1.2 + len(names) * (0.8 + 0.22 * len(rows)))
    axes = fig.subplots(len(names), 1, squeeze=False)[:, 0]
    for ax, name, title in zip(axes, names, titles):
        image = _heatmap(ax, cache[name][0], rows, labels)
        ax.set_title(f"{title} ({name})", fontsize=9)
        if ax is not axes[-1]:
            ax.set_xticks(range(len(labels)), [""] * len(labels))
    fig.colorbar(image, ax=list(axes), shrink=0.6)
    return _save(fig, path)


def plot_attention(model: Any, tokens: Sequence[Any], path: str | Path) -> Path:
    """Every head's attention pattern on ``tokens`` (one input starting with BOS):
    rows are query positions, columns key positions; each title names the node the
    head computes (heads the compiler left empty say so)."""
    path = _check_path(path)
    _, cache = run_with_cache(model, list(tokens))
    cfg = model.model_config
    circuit = circuit_map(model)
    computes = {
        (c.layer, c.head): ", ".join(c.nodes)
        for c in circuit.components.values()
        if c.kind == "attn"
    }
    labels = _token_labels(tokens)
    size = 1.2 + 0.3 * len(labels)
    fig = _figure(1 + size * cfg.num_heads, 0.5 + (size + 0.4) * cfg.num_layers)
    axes = fig.subplots(cfg.num_layers, cfg.num_heads, squeeze=False)
    for layer in range(cfg.num_layers):
        pattern = cache[hook_name(HookPoint.ATTN_PATTERN, layer)][0]
        for head in range(cfg.num_heads):
            ax = axes[layer, head]
            ax.imshow(pattern[head], cmap="Blues", vmin=0.0, vmax=1.0)
            ax.set_xticks(range(len(labels)), labels, fontsize=7, rotation=90)
            ax.set_yticks(range(len(labels)), labels, fontsize=7)
            node = computes.get((layer, head), "unused")
            ax.set_title(f"L{layer}H{head}: {node}", fontsize=8)
    return _save(fig, path)


def _head_matrices(model: Any, layer: int, head: int) -> tuple[np.ndarray, ...]:
    cfg = model.model_config
    d, h = cfg.d_model, cfg.num_heads

    def w(module: ParamModule) -> np.ndarray:
        return np.asarray(model.params[param_path(module, layer)]["w"], dtype=np.float64)

    q = w(ParamModule.QUERY).reshape(d, h, -1)[:, head]
    k = w(ParamModule.KEY).reshape(d, h, -1)[:, head]
    v = w(ParamModule.VALUE).reshape(d, h, -1)[:, head]
    o = w(ParamModule.ATTN_OUT).reshape(h, -1, d)[head]
    return q @ k.T / np.sqrt(cfg.key_size), v @ o


def _used(matrix: np.ndarray, axis: int) -> np.ndarray:
    return np.flatnonzero(np.any(matrix != 0, axis=axis))


def plot_weights(
    model: Any, path: str | Path, *, layer: int, head: int = 0, matrix: str = "qk"
) -> Path:
    """One weight matrix over labelled directions, zero rows and columns left out.

    ``matrix="qk"``: the attention logit ``W_Q W_K^T / sqrt(d_head)`` of head
    ``head``, query directions down, key directions across; ``"ov"``: ``W_V W_O``,
    the directions it reads down, those it writes across; ``"mlp"``: the MLP's
    input weights (directions x neurons) and output weights (neurons x directions),
    each neuron labelled with the node it computes.
    """
    path = _check_path(path)
    cfg = model.model_config
    if not 0 <= layer < cfg.num_layers:
        raise RaspcValueError(f"layer {layer} is out of range: the model has {cfg.num_layers}")
    labels = np.asarray(model.residual_labels, dtype=object)
    if matrix in ("qk", "ov"):
        if not 0 <= head < cfg.num_heads:
            raise RaspcValueError(f"head {head} is out of range: layers have {cfg.num_heads}")
        qk, ov = _head_matrices(model, layer, head)
        weights = qk if matrix == "qk" else ov
        rows, cols = _used(weights, 1), _used(weights, 0)
        if not len(rows):
            raise RaspcValueError(
                f"head {head} of layer {layer} is empty (the compiler put nothing there); "
                "`raspc inspect` lists the heads in use"
            )
        fig = _figure(2.5 + 0.25 * len(cols), 1.5 + 0.22 * len(rows))
        ax = fig.subplots()
        image = _heatmap(ax, weights[np.ix_(rows, cols)], labels[rows], labels[cols])
        what = "query \u2192 key logit" if matrix == "qk" else "read \u2192 written"
        ax.set_title(f"L{layer}H{head} {matrix.upper()} ({what})", fontsize=9)
        ax.set_ylabel("query direction" if matrix == "qk" else "value direction")
        ax.set_xlabel("key direction" if matrix == "qk" else "output direction")
        fig.colorbar(image, ax=ax, shrink=0.8)
        return _save(fig, path)
    if matrix != "mlp":
        raise RaspcValueError(f"unknown matrix {matrix!r}; choose qk, ov or mlp")
    w_in = np.asarray(model.params[param_path(ParamModule.MLP_IN, layer)]["w"], np.float64)
    w_out = np.asarray(model.params[param_path(ParamModule.MLP_OUT, layer)]["w"], np.float64)
    neurons = np.union1d(_used(w_in, 0), _used(w_out, 1))
    if not len(neurons):
        raise RaspcValueError(f"the MLP of layer {layer} is empty (the compiler put nothing there)")
    owner = {}
    for c in circuit_map(model).components.values():
        if c.kind == "mlp" and c.layer == layer:
            for i in range(*c.span):
                owner[i] = f"{'+'.join(c.nodes)}#{i - c.span[0]}"
    names = [owner.get(int(i), f"n{i}") for i in neurons]
    rows_in, cols_out = _used(w_in[:, neurons], 1), _used(w_out[neurons], 0)
    fig = _figure(4 + 0.25 * (len(neurons) + len(cols_out)), 2 + 0.22 * max(len(rows_in), 8))
    ax_in, ax_out = fig.subplots(1, 2, width_ratios=[len(neurons), max(1, len(cols_out))])
    _heatmap(ax_in, w_in[np.ix_(rows_in, neurons)], labels[rows_in], names)
    ax_in.set_title(f"layer {layer} MLP input weights", fontsize=9)
    ax_in.set_xlabel("hidden neuron (node#unit)")
    image = _heatmap(ax_out, w_out[np.ix_(neurons, cols_out)], names, labels[cols_out])
    ax_out.set_title(f"layer {layer} MLP output weights", fontsize=9)
    ax_out.set_xlabel("output direction")
    fig.colorbar(image, ax=[ax_in, ax_out], shrink=0.6)
    return _save(fig, path)


def plot_circuit(
    model: Any, path: str | Path, *, merge_mlps: bool = False, bias: bool = False
) -> Path:
    """The ground-truth circuit: components left to right in the order they run,
    each edge labelled with the nodes that flow along it (see
    :meth:`compiler.circuit.CircuitMap.graph`).  ``model`` is a compiled model or a
    :class:`~compiler.circuit.CircuitMap`."""
    path = _check_path(path)
    circuit = model if isinstance(model, CircuitMap) else circuit_map(model)
    graph = circuit.graph(merge_mlps=merge_mlps, bias=bias)
    columns: dict[int, list[str]] = {}
    for name, data in graph.nodes(data=True):
        columns.setdefault(data["sublayer"], []).append(name)
    pos = {}
    for x, sublayer in enumerate(sorted(columns)):
        names = columns[sublayer]
        for y, name in enumerate(names):
            pos[name] = (2.0 * x, y - (len(names) - 1) / 2.0)
    tallest = max(len(v) for v in columns.values())
    fig = _figure(2 + 2.2 * len(columns), 1.5 + 1.3 * tallest)
    ax = fig.subplots()
    colours = {"embed": "#d9ead3", "pos_embed": "#d9ead3", "attn": "#cfe2f3", "mlp": "#fce5cd"}
    for src, dst, data in graph.edges(data=True):
        (x0, y0), (x1, y1) = pos[src], pos[dst]
        ax.annotate(
            "",
            xy=(x1, y1),
            xytext=(x0, y0),
            arrowprops={"arrowstyle": "-|>", "color": "#666666", "shrinkA": 22, "shrinkB": 22},
        )
        label = ", ".join(data["nodes"]) or "bias"
        ax.text((x0 + x1) / 2, (y0 + y1) / 2, label, fontsize=6, ha="center", color="#444444")
    for name, data in graph.nodes(data=True):
        x, y = pos[name]
        text = name if not data["nodes"] else f"{name}\n{', '.join(data['nodes'])}"
        ax.text(
            x,
            y,
            text,
            ha="center",
            va="center",
            fontsize=7,
            bbox={"boxstyle": "round", "fc": colours.get(data["kind"], "#eeeeee"), "ec": "#888"},
        )
    xs = [p[0] for p in pos.values()]
    ys = [p[1] for p in pos.values()]
    ax.set_xlim(min(xs) - 1.2, max(xs) + 1.2)
    ax.set_ylim(min(ys) - 0.8, max(ys) + 0.8)
    ax.set_axis_off()
    ax.set_title(f"ground-truth circuit of {circuit.output!r}", fontsize=10)
    return _save(fig, path)
