"""What a compressed model did with each residual direction: kept it, dropped it, or
overlapped it with others; accuracy against the compressed width; plots.

Notation as in :mod:`models.compression`: ``write [D, d]`` sends the compiled model's
labelled residual directions ("features", one per ``residual_labels`` entry)
into d dimensions, row ``i`` being where feature ``i`` lands; ``read [d, D]``
brings them back.  Two D x D matrices describe the result:

* the Gram matrix ``write @ write.T`` (the paper's ``W^T W``, whose ``W`` is
  ``write.T``): squared feature norms on the diagonal, the overlap of every pair
  of features off it;
* the round trip ``M = write @ read``: ``M[i, j]`` is how much a reader of
  feature ``j`` sees when feature ``i`` is present (the Gram matrix when tied).

Each feature is classified from ``M``, with these documented thresholds:

* **dropped** when ``M[i, i] < DROP_THRESHOLD`` (0.5): a reader recovers less
  than half of it, below the compiled read-out's own 0.5 decision threshold;
* **superposed** when kept and some other feature ``j`` has
  ``|M[i, j]|`` or ``|M[j, i]|`` at least ``OVERLAP_THRESHOLD`` (0.1): it shares
  directions with ``j``, and each leaks into the other's reads;
* **orthogonal** when kept and every overlap is below ``OVERLAP_THRESHOLD``.

These describe geometry, not use: compiled layers read with large gains
(attention scores at a scale of 100), so a feature recovered at 0.3 can still
steer a head exactly (sort_unique at d = 16 is exact with most of its
selector-width values "dropped").  Ablate a feature to test what it does.

Plots need matplotlib (``pip install 'raspc[plot]'``), imported on first use;
they draw on a bare ``Figure`` (Agg), never touching pyplot's global state, and
write PNG or SVG according to the file suffix.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from models.compression import CompressedModel, compress, evaluate_compression
from rasp.errors import RaspcError, RaspcTypeError, RaspcValueError

__all__ = [
    "DROP_THRESHOLD",
    "OVERLAP_THRESHOLD",
    "FeatureStats",
    "Sweep",
    "SweepPoint",
    "classify_features",
    "feature_stats",
    "gram",
    "plot_features",
    "plot_gram",
    "plot_history",
    "plot_sweep",
    "round_trip",
    "sweep",
]

DROP_THRESHOLD = 0.5
"""A feature whose round trip ``M[i, i]`` is below this is dropped."""

OVERLAP_THRESHOLD = 0.1
"""A kept feature with an overlap ``|M[i, j]|`` (either way) at least this is superposed."""

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
    or for a bare ``write`` matrix (tied when ``read`` is None)."""
    write, read = _matrices(model, read)
    return write @ read


@dataclass(frozen=True)
class FeatureStats:
    """One residual direction after compression."""

    label: str
    norm: float  # |write[i]|: how long its compressed vector is
    recovered: float  # M[i, i]: how much of it a reader of it gets back
    interference: float  # sqrt(sum_{j != i} M[j, i]^2): what other features add to its reads
    overlap: float  # max_{j != i} max(|M[i, j]|, |M[j, i]|)
    partner: str | None  # the feature of that largest overlap
    status: str  # "orthogonal", "superposed" or "dropped"


def classify_features(
    write: np.ndarray,
    labels: Sequence[str] | None = None,
    read: np.ndarray | None = None,
    *,
    drop_threshold: float = DROP_THRESHOLD,
    overlap_threshold: float = OVERLAP_THRESHOLD,
) -> list[FeatureStats]:
    """Norms, interference and status of every feature of ``write [D, d]`` (tied
    unless ``read [d, D]`` is given); see the module docstring for the rules.

    >>> stats = classify_features(np.array([[1.0, 0.0], [0.0, 0.05], [0.0, 1.0]]), "abc")
    >>> [(s.label, s.status) for s in stats]
    [('a', 'orthogonal'), ('b', 'dropped'), ('c', 'orthogonal')]
    """
    w, r = _matrices(write, read)
    m = w @ r
    n = m.shape[0]
    labels = [str(i) for i in range(n)] if labels is None else [str(x) for x in labels]
    if len(labels) != n:
        raise RaspcValueError(f"expected {n} labels (one per row of write), found {len(labels)}")
    off = np.abs(m) * (1 - np.eye(n))
    both = np.maximum(off, off.T)
    out = []
    for i in range(n):
        recovered = float(m[i, i])
        j = int(both[i].argmax()) if n > 1 else i
        overlap = float(both[i, j]) if n > 1 else 0.0
        if recovered < drop_threshold:
            status = "dropped"
        elif overlap >= overlap_threshold:
            status = "superposed"
        else:
            status = "orthogonal"
        out.append(
            FeatureStats(
                label=labels[i],
                norm=float(np.linalg.norm(w[i])),
                recovered=recovered,
                interference=float(np.sqrt((off[:, i] ** 2).sum())),
                overlap=overlap,
                partner=labels[j] if n > 1 else None,
                status=status,
            )
        )
    return out


def feature_stats(model: CompressedModel, **thresholds: float) -> list[FeatureStats]:
    """:func:`classify_features` for a compressed model, labelled with its residual
    labels (untied models with a read matrix per layer are judged by the read-out's)."""
    if not isinstance(model, CompressedModel):
        raise RaspcTypeError(f"feature_stats needs a CompressedModel, found {type(model).__name__}")
    return classify_features(model.write, model.residual_labels, model.read[-1], **thresholds)


# ---------------------------------------------------------------- accuracy against d


@dataclass(frozen=True)
class SweepPoint:
    """One compressed width: exact-match accuracy on the evaluation inputs."""

    d: int
    accuracy: float
    token_accuracy: float
    seconds: float  # training time (0 for d = D, the compiled model itself)
    model: CompressedModel | None = field(default=None, repr=False, compare=False)


@dataclass
class Sweep:
    """Accuracy against d for one program."""

    name: str
    d_full: int
    points: dict[int, SweepPoint] = field(default_factory=dict)

    def curve(self) -> tuple[list[int], list[float]]:
        ds = sorted(self.points)
        return ds, [self.points[d].accuracy for d in ds]

    def smallest(self, at_least: float) -> int | None:
        """The smallest trained d whose accuracy reaches ``at_least`` (None if none)."""
        hits = [d for d, p in self.points.items() if p.accuracy >= at_least - 1e-12]
        return min(hits) if hits else None

    @property
    def seconds(self) -> float:
        return sum(p.seconds for p in self.points.values())


def sweep(
    model: Any,
    ds: Iterable[int] = (),
    *,
    name: str | None = None,
    thresholds: Sequence[float] = (0.99, 1.0),
    inputs: Sequence[Sequence[Any]] | None = None,
    program: Any = None,
    seeds: Sequence[int] = (0,),
    keep_models: bool = False,
    on_point: Callable[[SweepPoint], None] | None = None,
    **compress_kwargs: Any,
) -> Sweep:
    """Train at each width in ``ds``, then bisect for the smallest d reaching each of
    ``thresholds``, and score every model on ``inputs`` (default: the input space,
    see :func:`models.compression.evaluate_compression`).  With several ``seeds``
    each width is trained once per seed, until one is exact, and the most accurate
    model is kept (restarts: the loss landscape of a compiled model has many poor
    local minima).

    The bisection assumes accuracy grows with d, which training noise can break:
    :meth:`Sweep.smallest` reports the smallest d actually trained that reached the
    threshold, and every trained point is kept for the curve.  d = D is the compiled
    model itself (exact, not trained).
    """
    program = program if program is not None else getattr(model, "program", None)
    d_full = model.model_config.d_model
    result = Sweep(name or model.layout.output, d_full)
    result.points[d_full] = SweepPoint(d_full, 1.0, 1.0, 0.0)

    def at(d: int) -> SweepPoint:
        if d not in result.points:
            start = time.perf_counter()
            best = None
            for seed in seeds:
                small = compress(model, d, program=program, seed=seed, **compress_kwargs)
                report = evaluate_compression(small, inputs, program=program)
                if best is None or report.accuracy > best[1].accuracy:
                    best = (small, report)
                if report.accuracy >= 1.0:
                    break  # nothing left to gain from another restart
            small, report = best
            seconds = time.perf_counter() - start
            result.points[d] = SweepPoint(
                d, report.accuracy, report.token_accuracy, seconds, small if keep_models else None
            )
            if on_point is not None:
                on_point(result.points[d])
        return result.points[d]

    for d in ds:
        at(int(d))
    for threshold in sorted(thresholds):
        while True:
            failing = [d for d, p in result.points.items() if p.accuracy < threshold - 1e-12]
            lo = max(failing, default=0)
            passing = [d for d, p in result.points.items() if d > lo and p.accuracy >= threshold]
            hi = min(passing, default=d_full)
            if hi - lo <= 1:
                break
            at((lo + hi) // 2)
    return result


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
    """Per-feature norm (coloured by status) and interference, as bars."""
    _check_suffix(path)
    stats = feature_stats(model)
    n = len(stats)
    longest = max((len(s.label) for s in stats), default=1)
    fig, axes = _figure(max(6.0, 0.25 * n + 2.0), 5.0 + 0.07 * longest, rows=2)
    xs = np.arange(n)
    colors = [_COLORS[s.status] for s in stats]
    top, bottom = axes[0, 0], axes[1, 0]
    top.bar(xs, [s.recovered for s in stats], color=colors)
    top.axhline(DROP_THRESHOLD, color="k", lw=0.8, ls="--")
    top.set_ylabel("recovered M[i, i]")
    top.set_title(title or f"{model.layout.output}: features at d={model.d} (D={model.d_full})")
    for status, color in _COLORS.items():
        top.bar([0], [0], color=color, label=status)
    top.legend(fontsize=8)
    top.set_xticks(xs, [""] * n)
    bottom.bar(xs, [s.interference for s in stats], color=colors)
    bottom.axhline(OVERLAP_THRESHOLD, color="k", lw=0.8, ls="--")
    bottom.set_ylabel("interference")
    bottom.set_xticks(
        xs, [s.label for s in stats], rotation=90, fontsize=max(4.0, min(9.0, 260.0 / n))
    )
    return _save(fig, path)


def plot_sweep(sweeps: Sweep | Sequence[Sweep], path: str | Path, *, title: str | None = None):
    """Exact-match accuracy against d (left) and against d / D (right), one line per
    program."""
    _check_suffix(path)
    sweeps = [sweeps] if isinstance(sweeps, Sweep) else list(sweeps)
    fig, axes = _figure(11.0, 4.5, cols=2)
    for s in sweeps:
        ds, acc = s.curve()
        label = f"{s.name} (D={s.d_full})"
        axes[0, 0].plot(ds, acc, marker="o", ms=3, label=label)
        axes[0, 1].plot([d / s.d_full for d in ds], acc, marker="o", ms=3, label=label)
    for ax, xlabel in ((axes[0, 0], "d"), (axes[0, 1], "d / D")):
        ax.set_xlabel(xlabel)
        ax.set_ylabel("exact-match accuracy")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=8)
    fig.suptitle(title or "accuracy against the compressed width")
    return _save(fig, path)


def plot_history(model: CompressedModel, path: str | Path, *, title: str | None = None) -> Path:
    """Training loss per step and validation accuracy at each checkpoint."""
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
    ax.set_ylabel("loss")
    other = ax.twinx()
    steps = [c["step"] for c in history.checkpoints]
    other.plot(steps, [c["accuracy"] for c in history.checkpoints], color="tab:green")
    other.set_ylabel("validation accuracy", color="tab:green")
    other.set_ylim(-0.02, 1.02)
    ax.axvline(history.best_step, color="k", lw=0.8, ls=":")  # the kept checkpoint
    ax.set_title(title or f"{model.layout.output}: training at d={model.d}")
    return _save(fig, path)
