"""What a compressed model did with each residual direction and each RASP node.

Notation as in :mod:`models.compression`: ``write [D, d]`` sends the compiled model's
labelled residual directions ("features", one per ``residual_labels`` entry) into d
dimensions; row ``W_i = write[i]`` is where feature ``i`` lands, ``W_hat_i`` its unit
vector.  Per feature (:func:`feature_stats`):

* **norm** ``||W_i||``: how long its compressed vector is;
* **interference** ``sum_{j != i} (W_hat_i . W_j)^2``: how much the other features
  project onto its direction;
* **dimensionality** (Elhage et al., 2022, "Toy Models of Superposition"):
  ``D_i = ||W_i||^2 / sum_j (W_hat_i . W_j)^2``, the fraction of a dimension the
  feature owns: 1 alone in its direction, 1/2 in an antipodal pair, 0 when it is not
  represented.  The sum over features is the number of dimensions in use.

A feature's status follows from those: **dropped** when ``||W_i||^2`` is below
``DROP_NORM`` (the projection keeps less than a hundredth of it), else **orthogonal**
when ``D_i >= 1 - SHARED_TOLERANCE`` (it owns its direction, whatever its length:
compiled layers read with large gains, so a shortened feature can still work), else
**superposed**.  These describe geometry, not use; :func:`feature_usage` measures use
(how often each feature is active, how much accuracy drops without it) and
:func:`node_decodability` says which RASP node's value stops being readable, right
after the sub-layer that writes it (from :func:`compiler.circuit.circuit_map`), as d
shrinks.

Plots need matplotlib (``pip install 'raspc[plot]'``), imported on first use; they
draw on a bare ``Figure`` (Agg), never touching pyplot's global state, and write PNG
or SVG according to the file suffix.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from models.compression import CompressedModel
from models.compression.sweep import CellResult, SweepTable, sweep
from rasp.errors import RaspcError, RaspcTypeError, RaspcValueError

__all__ = [
    "DROP_NORM",
    "SHARED_TOLERANCE",
    "STATUSES",
    "CellResult",
    "FeatureStats",
    "FeatureUsage",
    "Geometry",
    "NodeDecodability",
    "SweepTable",
    "classify_features",
    "dimensionality",
    "feature_stats",
    "feature_usage",
    "geometry",
    "gram",
    "interference_matrix",
    "node_decodability",
    "plot_features",
    "plot_geometry",
    "plot_gram",
    "plot_history",
    "plot_nodes",
    "plot_sweep",
    "round_trip",
    "sweep",
]

DROP_NORM = 0.01
"""A feature whose squared norm ``||W_i||^2`` is below this is dropped."""

SHARED_TOLERANCE = 0.05
"""A kept feature with dimensionality below ``1 - SHARED_TOLERANCE`` is superposed."""

STATUSES = ("orthogonal", "superposed", "dropped")


def gram(write: np.ndarray) -> np.ndarray:
    """``write @ write.T`` [D, D]: feature norms squared and pairwise overlaps."""
    write = np.asarray(write, dtype=np.float64)
    return write @ write.T


def _matrices(model: CompressedModel | np.ndarray, read: np.ndarray | None):
    if isinstance(model, CompressedModel):
        return np.asarray(model.write, np.float64), np.asarray(model.read[-1], np.float64)
    write = np.asarray(model, dtype=np.float64)
    if write.ndim != 2:
        raise RaspcValueError(f"a write matrix is [D, d], found shape {write.shape}")
    if read is None:
        return write, write.T
    read = np.asarray(read, dtype=np.float64)
    if read.shape != write.T.shape:
        raise RaspcValueError(
            f"the read matrix must be [d, D] = {list(write.T.shape)} to match the write "
            f"matrix, found {list(read.shape)}"
        )
    return write, read


def round_trip(model: CompressedModel | np.ndarray, read: np.ndarray | None = None) -> np.ndarray:
    """``M = write @ read`` [D, D] for a compressed model (its read-out's read matrix)
    or for a bare ``write`` matrix (tied when ``read`` is None): ``M[i, j]`` is how much
    a reader of feature ``j`` sees when feature ``i`` is present."""
    write, read = _matrices(model, read)
    return write @ read


def interference_matrix(write: np.ndarray) -> np.ndarray:
    """``(W_hat_i . W_j)`` [D, D]: how far feature ``j`` reaches along feature ``i``'s
    direction (row ``i`` is zero for a zero-length feature)."""
    w = np.asarray(write, dtype=np.float64)
    norms = np.linalg.norm(w, axis=1)
    unit = np.divide(w, norms[:, None], out=np.zeros_like(w), where=norms[:, None] > 1e-12)
    return unit @ w.T


def dimensionality(write: np.ndarray) -> np.ndarray:
    """Elhage et al.'s ``D_i = ||W_i||^2 / sum_j (W_hat_i . W_j)^2`` [D] (0 for a
    zero-length feature).

    >>> dimensionality(np.array([[1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])).round(2).tolist()
    [1.0, 0.5, 0.5]
    """
    proj = interference_matrix(write)
    norms2 = (np.asarray(write, dtype=np.float64) ** 2).sum(1)
    total = (proj**2).sum(1)
    return np.divide(norms2, total, out=np.zeros_like(norms2), where=total > 1e-12)


@dataclass(frozen=True)
class FeatureStats:
    """One residual direction after compression."""

    label: str
    norm: float  # ||W_i||
    recovered: float  # M[i, i]: how much of it a reader of it gets back
    interference: float  # sum_{j != i} (W_hat_i . W_j)^2
    dimensionality: float  # D_i, in [0, 1]
    partner: str | None  # the feature reaching furthest along its direction
    status: str  # "orthogonal", "superposed" or "dropped"


def classify_features(
    write: np.ndarray,
    labels: Sequence[str] | None = None,
    read: np.ndarray | None = None,
    *,
    drop_norm: float = DROP_NORM,
    shared_tolerance: float = SHARED_TOLERANCE,
) -> list[FeatureStats]:
    """Norm, interference, dimensionality and status of every feature of ``write
    [D, d]`` (``recovered`` uses ``read [d, D]``, tied when None); see the module
    docstring for the rules.

    >>> stats = classify_features(np.array([[1.0, 0.0], [0.0, 0.05], [0.0, 1.0]]), "abc")
    >>> [(s.label, s.status) for s in stats]
    [('a', 'orthogonal'), ('b', 'dropped'), ('c', 'orthogonal')]
    """
    w, r = _matrices(write, read)
    n = w.shape[0]
    labels = [str(i) for i in range(n)] if labels is None else [str(x) for x in labels]
    if len(labels) != n:
        raise RaspcValueError(f"expected {n} labels (one per row of write), found {len(labels)}")
    m = w @ r
    proj = interference_matrix(w)
    off = proj * (1 - np.eye(n))
    dims = dimensionality(w)
    out = []
    for i in range(n):
        norm2 = float((w[i] ** 2).sum())
        if norm2 < drop_norm:
            status = "dropped"
        elif dims[i] >= 1 - shared_tolerance:
            status = "orthogonal"
        else:
            status = "superposed"
        j = int(np.abs(off[i]).argmax()) if n > 1 else i
        out.append(
            FeatureStats(
                label=labels[i],
                norm=float(np.sqrt(norm2)),
                recovered=float(m[i, i]),
                interference=float((off[i] ** 2).sum()),
                dimensionality=float(dims[i]),
                partner=labels[j] if n > 1 and abs(off[i, j]) > 1e-12 else None,
                status=status,
            )
        )
    return out


@dataclass(frozen=True)
class Geometry:
    """The arrangement of the features' compressed vectors ``W_i`` (what
    :func:`plot_geometry` draws): their coordinates on the top principal axes of
    ``write``, and the antipodal pairs among the kept features."""

    coords: np.ndarray  # [D, k]: W_i on the axes (exact when d <= k)
    axes: np.ndarray  # [k, d]: unit principal axes, signs fixed (largest entry positive)
    share: float  # the fraction of ||write||^2 the axes carry
    kept: np.ndarray  # [D] bool: not dropped (||W_i||^2 >= drop_norm)
    antipodal: tuple[tuple[int, int], ...]  # kept i < j with cos(W_i, W_j) <= -1 + tolerance


def geometry(
    write: CompressedModel | np.ndarray,
    dims: int = 2,
    *,
    drop_norm: float = DROP_NORM,
    tolerance: float = SHARED_TOLERANCE,
) -> Geometry:
    """Where each feature's vector lies in the ``dims``-dimensional principal subspace
    of ``write [D, d]`` (a compressed model's write matrix), and which kept features
    form antipodal pairs (the cosine between them, in all d dimensions, within
    ``tolerance`` of -1): Elhage et al.'s two-features-per-dimension arrangement.

    >>> g = geometry(np.array([[2.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, 0.001]]))
    >>> g.antipodal, g.kept.tolist()
    (((0, 1),), [True, True, True, False])
    """
    w = np.asarray(write.write if isinstance(write, CompressedModel) else write, np.float64)
    if w.ndim != 2:
        raise RaspcValueError(f"a write matrix is [D, d], found shape {w.shape}")
    if isinstance(dims, bool) or not isinstance(dims, int) or dims < 1:
        raise RaspcValueError(f"geometry: dims must be an int >= 1, found {dims!r}")
    _, _, vt = np.linalg.svd(w, full_matrices=False)
    axes = vt[: min(dims, w.shape[1])]
    flip = np.sign(axes[np.arange(len(axes)), np.abs(axes).argmax(1)])
    axes = axes * np.where(flip == 0, 1.0, flip)[:, None]
    coords = w @ axes.T
    if coords.shape[1] < dims:  # d < dims: the missing axes carry nothing
        coords = np.pad(coords, ((0, 0), (0, dims - coords.shape[1])))
    norms = np.linalg.norm(w, axis=1)
    kept = norms**2 >= drop_norm
    unit = np.divide(w, norms[:, None], out=np.zeros_like(w), where=norms[:, None] > 1e-12)
    cos = unit @ unit.T
    pairs = tuple(
        (i, j)
        for i in range(len(w))
        for j in range(i + 1, len(w))
        if kept[i] and kept[j] and cos[i, j] <= -1 + tolerance
    )
    share = float((coords**2).sum() / max((w**2).sum(), 1e-12))
    return Geometry(coords=coords, axes=axes, share=share, kept=kept, antipodal=pairs)


def feature_stats(model: CompressedModel, **thresholds: float) -> list[FeatureStats]:
    """:func:`classify_features` for a compressed model, labelled with its residual
    labels (untied models are judged by the read-out's read matrix)."""
    if not isinstance(model, CompressedModel):
        raise RaspcTypeError(f"feature_stats needs a CompressedModel, found {type(model).__name__}")
    return classify_features(model.write, model.residual_labels, model.read[-1], **thresholds)


# ---------------------------------------------------------------- use: sparsity, importance


@dataclass(frozen=True)
class FeatureUsage:
    """How a feature is used by the compiled model on the evaluation inputs."""

    label: str
    node: str | None  # the RASP node owning the direction (None: BOS, one, scratch)
    activity: float  # fraction of token positions where it is non-zero (1 - sparsity)
    importance: float  # exact-match accuracy lost when it alone is removed (compiled model)
    dimensionality: float  # D_i in the compressed model


def _eval_data(model: CompressedModel):
    from models.compression.data import build_data, evaluation_inputs, output_spec
    from models.compression.settings import CompressionSettings

    program = model.program
    if program is None:
        raise RaspcValueError("this analysis needs the RASP program: attach it (program=...)")
    settings = model.settings or CompressionSettings()
    chosen = evaluation_inputs(program, model.layout, settings)
    spec = output_spec(model.base, settings.atol)
    return chosen, spec, build_data(model.base, program, spec, chosen.inputs).arrays()


def _owners(model: CompressedModel) -> list[str | None]:
    owner: list[str | None] = [None] * model.d_full
    for label, node in model.layout.nodes.items():
        for i in node.residual:
            owner[i] = label
    return owner


def feature_usage(model: CompressedModel) -> list[FeatureUsage]:
    """Activity (how often non-zero in the compiled model's final stream, over token
    positions) and importance (accuracy of the compiled model with that direction
    removed from the stream everywhere, subtracted from 1) of every feature, beside its
    dimensionality after compression: do rarely active, unimportant features get
    superposed first?"""
    import jax.numpy as jnp

    from models.compression.evaluation import correct
    from models.compression.model import forward

    _, spec, data = _eval_data(model)
    cfg, pad = model.model_config, model.input_encoder.pad_id
    ref = model.original(data["ids"])
    final = np.asarray(ref["residuals"][-1]) if ref["residuals"] else np.asarray(ref["embeddings"])
    active = (np.abs(final) > 1e-6)[data["valid"]].mean(0)  # [D]
    loss = []
    for i in range(model.d_full):
        eye = jnp.eye(model.d_full).at[i, i].set(0.0)
        out = forward(
            model.params,
            {"write": eye, "read": eye.T[None]},
            data["ids"],
            cfg=cfg,
            pad_id=pad,
            mode="layer",
        )
        loss.append(1.0 - float(np.asarray(correct(out["output"], data, spec)).all(-1).mean()))
    dims = dimensionality(model.write)
    return [
        FeatureUsage(label, owner, float(active[i]), loss[i], float(dims[i]))
        for i, (label, owner) in enumerate(zip(model.residual_labels, _owners(model)))
    ]


# ---------------------------------------------------------------- per RASP node


@dataclass(frozen=True)
class NodeDecodability:
    """How exactly one RASP node's value can be read after the sub-layer writing it."""

    label: str
    computed_by: tuple[str, ...]  # circuit components (e.g. "L1H0", "L0MLP[0:3]")
    ready: int  # the sub-layer after which it is read (-1: the embeddings)
    accuracy: float  # fraction of inputs whose every position decodes as compiled
    token_accuracy: float
    directions: int  # its residual directions
    mean_dimensionality: float  # mean D_i over them (nan for none)


def _matches(a: list, b: list, numerical: bool, tol: float) -> list[bool]:
    if numerical:
        return [abs(x - y) <= tol for x, y in zip(a, b)]
    return [x == y for x, y in zip(a, b)]


def node_decodability(model: CompressedModel) -> list[NodeDecodability]:
    """For every RASP node, in dependency order: on the evaluation inputs, how often
    decoding its directions right after the sub-layer that writes it (as the next
    reader sees the stream) gives what the compiled model has there.  The first node
    whose accuracy falls is the computation that broke first; everything reading it
    inherits the error.  Numerical values count as right within half the smallest gap
    between the node's possible values (1e-2 when they are not known)."""
    from compiler.circuit import circuit_map
    from models.decode import decode_directions

    chosen, _, data = _eval_data(model)
    circuit = circuit_map(model.base)
    out, ref = model._run(data["ids"]), model.original(data["ids"])
    dims = dimensionality(model.write)
    rows = []
    lengths = data["valid"].sum(1)
    for label, node in circuit.nodes.items():
        layout = model.layout.nodes[label]
        numerical = layout.encoding == "numerical"
        known = [float(v) for v in layout.numbers or ()] if numerical else []
        tol = float(np.diff(known).min()) / 2 if len(known) > 1 else 1e-2
        pick = lambda o, r=node.ready: o["embeddings"] if r < 0 else o["residuals"][r]
        got_all = decode_directions(model.layout, label, np.asarray(pick(out)))
        want_all = decode_directions(model.layout, label, np.asarray(pick(ref)))
        hits = right = 0
        for row, n in enumerate(lengths):
            ok = _matches(got_all[row][1 : n + 1], want_all[row][1 : n + 1], numerical, tol)
            hits += sum(ok)
            right += all(ok)
        cols = list(layout.residual)
        rows.append(
            NodeDecodability(
                label=label,
                computed_by=tuple(node.computed_by),
                ready=node.ready,
                accuracy=right / max(len(chosen.inputs), 1),
                token_accuracy=hits / max(int(lengths.sum()), 1),
                directions=len(cols),
                mean_dimensionality=float(dims[cols].mean()) if cols else float("nan"),
            )
        )
    return rows


# ---------------------------------------------------------------- plots


def _figure(width: float, height: float, rows: int = 1, cols: int = 1):
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise RaspcError(
            "plots need matplotlib, which is not installed; install it with "
            "`pip install 'raspc[plot]'`"
        ) from exc
    fig = Figure(figsize=(width, height))
    axes = fig.subplots(rows, cols, squeeze=False)
    return fig, axes


def _check_suffix(path: str | Path) -> str:
    """The image format named by ``path``'s suffix; checked before any drawing."""
    suffix = Path(path).suffix.lower()
    if suffix not in (".png", ".svg"):
        raise RaspcValueError(
            f"cannot tell the image format of {str(path)!r}: expected a .png or .svg "
            f"suffix, found {suffix or 'none'}"
        )
    return suffix[1:]


def _save(fig: Any, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, format=_check_suffix(path), dpi=120)
    return path


def plot_gram(model: CompressedModel, path: str | Path, *, title: str | None = None) -> Path:
    """Heatmap of ``write @ write.T`` with the residual labels on both axes."""
    _check_suffix(path)
    g = gram(model.write)
    labels = model.residual_labels
    n = len(labels)
    size = max(5.0, 0.22 * n + 2.5)
    fig, axes = _figure(size + 1.0, size)
    ax = axes[0, 0]
    top = max(1.0, float(np.abs(g).max()))
    image = ax.imshow(g, cmap="RdBu_r", vmin=-top, vmax=top)
    font = max(4.0, min(9.0, 260.0 / n))
    ax.set_xticks(range(n), labels, rotation=90, fontsize=font)
    ax.set_yticks(range(n), labels, fontsize=font)
    ax.set_title(title or f"{model.layout.output}: W W^T, D={model.d_full} -> d={model.d}")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    return _save(fig, path)


_COLORS = {"orthogonal": "tab:blue", "superposed": "tab:orange", "dropped": "tab:gray"}


def plot_features(model: CompressedModel, path: str | Path, *, title: str | None = None) -> Path:
    """Per-feature norm and dimensionality (coloured by status), as bars."""
    _check_suffix(path)
    stats = feature_stats(model)
    n = len(stats)
    longest = max((len(s.label) for s in stats), default=1)
    fig, axes = _figure(max(6.0, 0.25 * n + 2.0), 5.0 + 0.07 * longest, rows=2)
    xs = np.arange(n)
    colors = [_COLORS[s.status] for s in stats]
    top, bottom = axes[0, 0], axes[1, 0]
    top.bar(xs, [s.norm for s in stats], color=colors)
    top.set_ylabel("norm ||W_i||")
    top.set_title(title or f"{model.layout.output}: features at d={model.d} (D={model.d_full})")
    for status, color in _COLORS.items():
        top.bar([0], [0], color=color, label=status)
    top.legend(fontsize=8)
    top.set_xticks(xs, [""] * n)
    bottom.bar(xs, [s.dimensionality for s in stats], color=colors)
    bottom.set_ylim(0, 1.05)
    bottom.set_ylabel("dimensionality D_i")
    bottom.set_xticks(
        xs, [s.label for s in stats], rotation=90, fontsize=max(4.0, min(9.0, 260.0 / n))
    )
    return _save(fig, path)


def plot_geometry(model: CompressedModel, path: str | Path, *, title: str | None = None) -> Path:
    """The arrangement of the features' compressed vectors ``W_i``: in the plane of
    the two principal axes of ``write`` (exact when d <= 2), each kept feature an
    arrow; antipodal pairs and polygons show as arrows at 180 degrees or evenly
    spread (the antipodal pairs :func:`geometry` finds are joined by a dotted line).
    Dropped features are left out.  :func:`geometry` computes what it draws."""
    _check_suffix(path)
    arrangement = geometry(model.write, 2)
    plane = arrangement.coords
    stats = feature_stats(model)
    fig, axes = _figure(6.5, 6.5)
    ax = axes[0, 0]
    for (x, y), s in zip(plane, stats):
        if s.status == "dropped":
            continue
        ax.annotate("", (x, y), (0, 0), arrowprops={"arrowstyle": "->", "color": _COLORS[s.status]})
        ax.text(x * 1.08, y * 1.08, s.label, fontsize=7, ha="center", va="center")
    for i, j in arrangement.antipodal:  # the pairs sharing one dimension, dotted
        ax.plot(*plane[[i, j]].T, color="0.6", lw=0.6, ls=":")
    top = max(1e-6, float(np.abs(plane).max())) * 1.3
    ax.set_xlim(-top, top)
    ax.set_ylim(-top, top)
    ax.set_aspect("equal")
    ax.axhline(0, color="k", lw=0.3)
    ax.axvline(0, color="k", lw=0.3)
    kept, share = min(2, model.d), arrangement.share
    pairs = len(arrangement.antipodal)
    ax.set_title(
        title
        or f"{model.layout.output} at d={model.d}: {kept} principal axes ({share:.0%} of the "
        f"norm), {pairs} antipodal pair(s)",
        fontsize=9,
    )
    return _save(fig, path)


def plot_nodes(model: CompressedModel, path: str | Path, *, title: str | None = None) -> Path:
    """Per RASP node, in dependency order: how exactly its value decodes after the
    sub-layer writing it, beside its mean dimensionality."""
    _check_suffix(path)
    rows = node_decodability(model)
    n = len(rows)
    fig, axes = _figure(max(6.0, 0.45 * n + 2.0), 5.0)
    ax = axes[0, 0]
    xs = np.arange(n)
    ax.bar(xs - 0.2, [r.accuracy for r in rows], width=0.4, label="decodes exactly")
    ax.bar(
        xs + 0.2,
        [np.nan_to_num(r.mean_dimensionality) for r in rows],
        width=0.4,
        label="mean dimensionality",
    )
    ax.set_ylim(0, 1.05)
    ax.set_xticks(
        xs, [f"{r.label}\n{','.join(r.computed_by)}" for r in rows], rotation=90, fontsize=7
    )
    ax.legend(fontsize=8)
    ax.set_title(title or f"{model.layout.output} at d={model.d}: nodes after their sub-layer")
    return _save(fig, path)


def plot_sweep(table: SweepTable, path: str | Path, *, title: str | None = None) -> Path:
    """Accuracy against d for a :class:`SweepTable` (see :meth:`SweepTable.plot`)."""
    if not isinstance(table, SweepTable):
        raise RaspcTypeError(f"plot_sweep needs a SweepTable, found {type(table).__name__}")
    return table.plot(path, title=title)


def plot_history(model: CompressedModel, path: str | Path, *, title: str | None = None) -> Path:
    """Training loss per step and exact-match accuracy at each checkpoint (every
    restart faint, the best solid), on the inputs the history names."""
    _check_suffix(path)
    history = model.history
    if history is None:
        raise RaspcValueError(
            "this compressed model has no training history (it was built by hand); "
            "plot_history needs one made by models.compress"
        )
    fig, axes = _figure(7.0, 4.0)
    ax = axes[0, 0]
    ax.plot(np.maximum(history.loss, 1e-6), lw=0.7, label="loss")  # exact starts sit at 0
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (kept restart)")
    other = ax.twinx()
    steps = [c["step"] for c in history.checkpoints]
    if history.checkpoints and "accuracies" in history.checkpoints[0]:
        every = np.asarray([c["accuracies"] for c in history.checkpoints])
        other.plot(steps, every, color="tab:green", lw=0.5, alpha=0.3)
    other.plot(steps, [c["accuracy"] for c in history.checkpoints], color="tab:green")
    other.set_ylabel(
        f"exact on {history.measured_on or 'evaluation inputs'}", color="tab:green", fontsize=8
    )
    other.set_ylim(-0.02, 1.02)
    ax.axvline(history.best_step, color="k", lw=0.8, ls=":")  # the kept checkpoint
    ax.set_title(title or f"{model.layout.output}: training at d={model.d}")
    return _save(fig, path)
