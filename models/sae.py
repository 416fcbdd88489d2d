"""Ground truth for sparse autoencoders: the features at a hook, and a score against them.

A sparse autoencoder (SAE) trained on a hook's activations is meant to find the
directions the model uses.  A compiled model says exactly what those are: every
residual direction belongs to one value of one RASP node (``node:value``, a
categorical value, or the single direction of a numerical node), and the circuit map
(:func:`compiler.circuit.circuit_map`) says which components have written it by
each hook.  In a compressed model (:mod:`models.compression`) the stream is the
code ``x @ write``, so feature ``i`` lives along row ``write[i]``, in superposition
when d is smaller than the number of features.

What a dataset makes learnable is part of the truth.  :func:`ground_truth` runs the
model on the inputs (default: :func:`sae_inputs`, varied lengths) and gives each
feature a status: ``active`` (it varies), ``constant`` (the same non-zero value at
every position, such as ``one``: an SAE absorbs it into its bias), ``dead`` (never
non-zero, such as BOS when BOS positions are left out), ``dropped`` (a compressed
model keeps less than :data:`models.superposition.DROP_NORM` of it).  Active features
whose activations are proportional on every position are **indistinguishable**: the
data only ever shows their sum (``indices:i`` with ``length - i`` on fixed-length
inputs), so the best any SAE can do is one latent along the group's direction.

:func:`score_sae` compares any decoder (``[latents, d_in]`` array, a torch tensor or
a SAELens ``SAE``, whose ``W_dec`` it reads) with the truth, by absolute cosine:
per feature the best latent, ``mmcs`` (mean max cosine), ``mcc`` (mean cosine of a
one-to-one Hungarian matching, :func:`scipy.optimize.linear_sum_assignment`, as
``sae_lens.synthetic.evals.mean_correlation_coefficient`` computes it, with unmatched
features counted as 0), ``mcc_identifiable`` (the same with every indistinguishable
group counted as one feature), and per feature an outcome: ``recovered`` (one latent
within ``threshold``), ``split`` (several), ``merged`` (no single latent, but one
latent lies in the span of it and other features), or ``missed``.

Shapes: N positions, D the compiled width, d_in the hook's width (D, or the
compressed d), F features, L latents.  Only numpy (and scipy when installed) is used
here; the model runs through its own ``run_chunks``.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import rasp
from compiler.circuit import CircuitMap, circuit_map, hook_sublayer
from rasp.errors import EvaluationError, RaspcValueError, RaspcWarning

__all__ = [
    "ACTIVE_TOLERANCE",
    "FeatureGroup",
    "FeatureScore",
    "GroundTruth",
    "LatentMerge",
    "SAEHookWarning",
    "SAEInputs",
    "SAEScore",
    "TrueFeature",
    "activation_batches",
    "activation_matrix",
    "ground_truth",
    "sae_inputs",
    "score_sae",
]

ACTIVE_TOLERANCE = 1e-4
"""A feature coefficient smaller than this (in absolute value) counts as not firing."""

_SAME = 1e-6  # activation columns with cosine above 1 - _SAME are proportional
STATUSES = ("active", "constant", "dead", "dropped")
OUTCOMES = ("recovered", "split", "merged", "missed")


class SAEHookWarning(RaspcWarning):
    """The SAE says it was trained on another hook than the truth it is scored against."""


# ---------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class SAEInputs:
    """Valid inputs (token lists without BOS) and how they were chosen."""

    inputs: tuple[tuple[Any, ...], ...]
    lengths: tuple[int, ...]  # the lengths drawn from
    exhaustive: bool  # every valid input of those lengths
    rejected: int  # inputs the evaluator refused (out of the program's domain)

    def describe(self) -> str:
        span = (
            f"length {self.lengths[0]}"
            if len(self.lengths) == 1
            else f"lengths {min(self.lengths)}-{max(self.lengths)}"
        )
        how = "all" if self.exhaustive else "a seeded sample of"
        return f"{how} {len(self.inputs)} valid inputs of {span}"


def _accepts(program: rasp.SOp | None, xs: list[Any], causal: bool) -> bool:
    if program is None:
        return True
    try:
        rasp.evaluate(program, xs, causal=causal)
    except EvaluationError:
        return False
    return True


def sae_inputs(
    model: Any,
    *,
    samples: int = 2048,
    lengths: Sequence[int] | None = None,
    seed: int = 0,
) -> SAEInputs:
    """Inputs to train and score SAEs on: every valid input of the given ``lengths``
    (default ``1..max_seq_len``, so that length-dependent features vary) when there are
    at most ``samples`` of them, else ``samples`` seeded draws (a uniform length, then
    uniform tokens).  Valid means the program attached to the model evaluates it; a
    model without its program accepts everything."""
    layout = model.layout
    vocab = sorted(layout.vocab, key=repr)
    lengths = tuple(range(1, layout.max_seq_len + 1)) if lengths is None else tuple(lengths)
    if not lengths or any(not 1 <= n <= layout.max_seq_len for n in lengths):
        raise RaspcValueError(
            f"sae_inputs: lengths must lie in 1..{layout.max_seq_len} (the model's "
            f"max_seq_len), found {list(lengths)}"
        )
    program, causal = getattr(model, "program", None), layout.causal
    if sum(len(vocab) ** n for n in lengths) <= samples:
        every = [list(xs) for n in lengths for xs in itertools.product(vocab, repeat=n)]
        kept = tuple(tuple(xs) for xs in every if _accepts(program, xs, causal))
        return SAEInputs(kept, lengths, True, len(every) - len(kept))
    from models.compression.data import draw_valid_inputs  # shared with compression

    rng = np.random.default_rng(seed)
    out, seen = draw_valid_inputs(
        lambda xs: _accepts(program, xs, causal),
        vocab,
        samples,
        lambda: int(rng.choice(lengths)),
        rng,
        "pass sae_inputs(lengths=...) where most inputs are valid",
    )
    return SAEInputs(tuple(out), lengths, False, sum(not ok for ok in seen.values()))


def _input_list(model: Any, inputs: SAEInputs | Sequence[Sequence[Any]] | None):
    """``(inputs as lists, description)``."""
    if inputs is None:
        inputs = sae_inputs(model)
    if isinstance(inputs, SAEInputs):
        return [list(xs) for xs in inputs.inputs], inputs.describe()
    listed = [list(xs) for xs in inputs]
    if not listed or any(not xs for xs in listed):
        raise RaspcValueError(
            "expected a non-empty list of non-empty inputs (token lists without BOS), found "
            f"{listed[:3]!r}; use models.sae.sae_inputs(model)"
        )
    return listed, f"{len(listed)} given inputs"


# ---------------------------------------------------------------------------- hooks


def _is_compressed(model: Any) -> bool:
    return hasattr(model, "write") and hasattr(model, "base")


@dataclass(frozen=True)
class _Site:
    """Where a hook's activation comes from.  ``kind``: ``resid`` (the stream after
    ``sublayer``), ``out`` (what ``sublayer`` adds), ``embed`` (``component``'s output)."""

    kind: str
    sublayer: int
    component: str | None = None


def _site(model: Any, hook: str) -> _Site:
    num_layers = model.model_config.num_layers
    if hook in ("hook_embed", "hook_pos_embed") and not _is_compressed(model):
        return _Site("embed", -1, hook[len("hook_") :])
    parts = hook.split(".")
    if (
        not _is_compressed(model)
        and len(parts) == 3
        and parts[0] == "blocks"
        and parts[1].isdigit()
        and int(parts[1]) < num_layers
        and parts[2] in ("hook_attn_out", "hook_mlp_out")
    ):
        return _Site("out", 2 * int(parts[1]) + (parts[2] == "hook_mlp_out"))
    try:
        return _Site("resid", hook_sublayer(hook, num_layers))
    except RaspcValueError:
        pass
    if _is_compressed(model):
        supported = "blocks.{l}.hook_resid_pre / hook_resid_mid / hook_resid_post"
    else:
        supported = (
            "hook_embed, hook_pos_embed, blocks.{l}.hook_resid_pre / hook_resid_mid / "
            "hook_resid_post / hook_attn_out / hook_mlp_out"
        )
    raise RaspcValueError(
        f"no SAE ground truth at hook {hook!r} of this {num_layers}-layer "
        f"{'compressed' if _is_compressed(model) else 'compiled'} model; expected one of "
        f"{supported} (residual-basis hooks, with l < {num_layers})"
    )


def _present(circuit: CircuitMap, site: _Site) -> tuple[int, ...]:
    """Residual indices written into the hook's activation, from the circuit map."""
    comps = circuit.components.values()
    if site.kind == "embed":
        chosen = [c for c in comps if c.name == site.component]
    elif site.kind == "out":
        chosen = [c for c in comps if c.sublayer == site.sublayer and c.kind != "unembed"]
    else:
        chosen = [c for c in comps if c.sublayer <= site.sublayer and c.kind != "unembed"]
    return tuple(sorted({i for c in chosen for i in c.writes}))


def _keep(site: _Site, compressed: bool) -> tuple[str, ...]:
    if compressed:
        return ("compressed",)
    if site.kind == "embed":
        return ("token_embed",) if site.component == "embed" else ("pos_embed",)
    if site.kind == "out":
        return ("layer_outputs",)
    return ("embeddings",) if site.sublayer < 0 else ("residuals",)


def _pick(site: _Site, compressed: bool, extras: dict[str, Any], shape: tuple) -> np.ndarray:
    """The hook's activation ``[B, T, width]`` from a chunk's kept intermediates."""
    if compressed:
        return extras["compressed"][site.sublayer + 1]  # the code before the next reader
    if site.kind == "embed":
        if site.component == "embed":
            return extras["token_embed"]
        pos = extras["pos_embed"]
        return np.broadcast_to(pos[None, : shape[1]], (shape[0], shape[1], pos.shape[-1]))
    if site.kind == "out":
        return extras["layer_outputs"][site.sublayer]
    return extras["embeddings"] if site.sublayer < 0 else extras["residuals"][site.sublayer]


def _rows(
    model: Any, site: _Site, inputs: list[list[Any]], include_bos: bool
) -> Iterator[np.ndarray]:
    """Per chunk of ``inputs``, the activations ``[N, width]`` at their real positions."""
    compressed = _is_compressed(model)
    keep = _keep(site, compressed)
    first = 0 if include_bos else 1
    for part, output, extras in model.run_chunks(inputs, chunk=len(inputs), keep=keep):
        x = np.asarray(_pick(site, compressed, extras, output.shape[:2]), dtype=np.float32)
        yield np.concatenate([x[row, first : len(seq) + 1] for row, seq in enumerate(part)])


def activation_batches(
    model: Any,
    hook: str,
    inputs: SAEInputs | Sequence[Sequence[Any]] | None = None,
    *,
    batch_size: int = 256,
    include_bos: bool = False,
) -> Iterator[np.ndarray]:
    """Activations at ``hook`` for ``inputs`` (default :func:`sae_inputs`), ``batch_size``
    inputs at a time: ``[N, d_in]`` float32 arrays over the real token positions of
    those inputs (padding never; BOS only with ``include_bos``), in input order.

    For a compiled model the activation is the residual-basis stream (d_in = D), the
    same numbers as ``HookedTransformer``'s hook of the export; for a compressed model
    it is the d-wide code ``x @ write`` that the stream holds at that point.
    """
    if batch_size < 1:
        raise RaspcValueError(f"batch_size must be at least 1, found {batch_size}")
    site = _site(model, hook)
    listed, _ = _input_list(model, inputs)
    for start in range(0, len(listed), batch_size):
        yield from _rows(model, site, listed[start : start + batch_size], include_bos)


def activation_matrix(
    model: Any,
    hook: str,
    inputs: SAEInputs | Sequence[Sequence[Any]] | None = None,
    *,
    include_bos: bool = False,
) -> np.ndarray:
    """Every activation of :func:`activation_batches` in one ``[N, d_in]`` array."""
    return np.concatenate(list(activation_batches(model, hook, inputs, include_bos=include_bos)))


# ---------------------------------------------------------------------------- truth


@dataclass(frozen=True)
class TrueFeature:
    """One ground-truth feature: a residual direction of the compiled model.

    ``name`` is its residual label (``node:value``; ``one`` and ``tokens:compiler_bos``
    for the bias directions); ``role`` is ``value`` (one of the node's values),
    ``scratch`` (an intermediate the node's blocks pass between them) or ``bias``.
    """

    name: str
    node: str | None
    index: int  # the compiled residual index
    role: str
    status: str  # see STATUSES
    frequency: float  # fraction of positions where it fires
    group: int | None  # index into GroundTruth.groups when indistinguishable

    @property
    def scored(self) -> bool:
        return self.status == "active"


@dataclass(frozen=True, eq=False)
class FeatureGroup:
    """Active features whose activations are proportional on every position of the
    dataset: any SAE sees only ``direction`` (unit, their activation-weighted sum)."""

    features: tuple[str, ...]
    direction: np.ndarray = field(repr=False)  # [d_in]


@dataclass(frozen=True, eq=False)
class GroundTruth:
    """The features at one hook, their directions and what the dataset makes of them."""

    hook: str
    basis: str  # "compiled" (d_in = D) or "compressed" (d_in = d)
    features: tuple[TrueFeature, ...]
    directions: np.ndarray = field(repr=False)  # [F, d_in], row i is feature i's direction
    groups: tuple[FeatureGroup, ...]
    dataset: str  # what the statuses and groups were measured on
    positions: int  # positions in that dataset

    @property
    def d_in(self) -> int:
        return int(self.directions.shape[1])

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)

    def feature(self, name: str) -> TrueFeature:
        for f in self.features:
            if f.name == name:
                return f
        raise RaspcValueError(f"no feature {name!r} at {self.hook}; its features are {self.names}")

    def summary(self) -> str:
        counts = {s: sum(f.status == s for f in self.features) for s in STATUSES}
        head = (
            f"ground truth at {self.hook} ({self.basis}, d_in {self.d_in}) on {self.dataset} "
            f"({self.positions} positions): {len(self.features)} features, "
            + ", ".join(f"{n} {s}" for s, n in counts.items() if n)
            + f"; {len(self.groups)} indistinguishable groups"
        )
        rows = [("feature", "node", "role", "status", "freq", "group")]
        for f in self.features:
            group = "-" if f.group is None else str(f.group)
            rows.append((f.name, f.node or "-", f.role, f.status, f"{f.frequency:.3f}", group))
        lines = [head, *_table(rows)]
        lines += [f"  group {i}: {' = '.join(g.features)}" for i, g in enumerate(self.groups)]
        return "\n".join(lines)


def _statuses(
    coefs: np.ndarray, norms: np.ndarray | None, drop: float
) -> tuple[list[str], np.ndarray]:
    """Each feature column's status and firing frequency; ``coefs [N, F]``."""
    fires = np.abs(coefs) > ACTIVE_TOLERANCE
    frequency = fires.mean(axis=0) if len(coefs) else np.zeros(coefs.shape[1])
    spread = np.ptp(coefs, axis=0) if len(coefs) else np.zeros(coefs.shape[1])
    statuses = []
    for i in range(coefs.shape[1]):
        if not fires[:, i].any():
            statuses.append("dead")
        elif spread[i] <= ACTIVE_TOLERANCE:
            statuses.append("constant")
        elif norms is not None and norms[i] ** 2 < drop:
            statuses.append("dropped")
        else:
            statuses.append("active")
    return statuses, frequency


def _groups(
    coefs: np.ndarray, directions: np.ndarray, active: list[int], collinear: float
) -> list[list[int]]:
    """Connected sets (of size >= 2) of active features that always fire together
    (positively proportional columns of ``coefs [N, F]``) or lie along one line at the
    hook (``|cos| >= collinear`` between their ``directions``)."""
    if len(active) < 2:
        return []
    cols = coefs[:, active].astype(np.float64)
    unit = cols / np.linalg.norm(cols, axis=0, keepdims=True)
    lines = _unit(directions[active])
    same = (unit.T @ unit >= 1 - _SAME) | (np.abs(lines @ lines.T) >= collinear)
    parent = list(range(len(active)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b in zip(*np.nonzero(np.triu(same, 1))):
        parent[root(int(a))] = root(int(b))
    sets: dict[int, list[int]] = {}
    for i in range(len(active)):
        sets.setdefault(root(i), []).append(active[i])
    return [members for members in sets.values() if len(members) > 1]


def ground_truth(
    model: Any,
    hook: str,
    inputs: SAEInputs | Sequence[Sequence[Any]] | None = None,
    *,
    include_bos: bool = False,
    collinear: float = 0.99,
) -> GroundTruth:
    """The ground-truth features at ``hook`` of a compiled or compressed model, their
    directions in the hook's basis, and their status and indistinguishable groups on
    ``inputs`` (default :func:`sae_inputs`; pass the inputs the SAE was trained on).

    The feature coefficients are the compiled model's own stream at that point (for
    a compressed model, its frozen base): what the program computes, not what a
    trained projection approximately keeps.  Two active features are
    indistinguishable when they always fire together (proportional activations) or,
    in a compressed model, when the projection put them on one line (absolute cosine
    at least ``collinear``): either way every activation shows only their sum.

    >>> import compiler, rasp
    >>> from rasp import lib
    >>> model = compiler.compile_rasp_to_model(lib.make_reverse(rasp.tokens), {"a", "b"}, 3)
    >>> truth = ground_truth(model, "blocks.1.hook_resid_post", sae_inputs(model, lengths=[3]))
    >>> [g.features for g in truth.groups][:2]
    [('indices:0', 'sequence_map_1:2'), ('indices:1', 'sequence_map_1:1')]
    >>> truth.feature("length:3").status, truth.feature("length:2").status
    ('constant', 'dead')
    """
    _site(model, hook)  # refuse unsupported hooks before running anything
    compressed = _is_compressed(model)
    base = model.base if compressed else model
    full_site = _site(base, hook)
    circuit = circuit_map(base)
    present = _present(circuit, full_site)
    listed, description = _input_list(model, inputs)
    coefs = np.concatenate(list(_rows(base, full_site, listed, include_bos)))[:, present]
    labels = base.layout.residual_labels
    if compressed:
        from models.superposition import DROP_NORM

        directions = np.asarray(model.write, dtype=np.float64)[list(present)]
        norms, drop = np.linalg.norm(directions, axis=1), DROP_NORM
    else:
        directions = np.eye(len(labels))[list(present)]
        norms, drop = None, 0.0
    statuses, frequency = _statuses(coefs, norms, drop)
    active = [i for i, s in enumerate(statuses) if s == "active"]
    members = _groups(coefs, directions, active, collinear)
    group_of = {i: g for g, ids in enumerate(members) for i in ids}
    features = []
    for col, index in enumerate(present):
        owner = circuit.direction_owner(index)
        scratch = owner is not None and index in circuit.nodes[owner].scratch
        features.append(
            TrueFeature(
                name=labels[index],
                node=owner,
                index=index,
                role="bias" if owner is None else "scratch" if scratch else "value",
                status=statuses[col],
                frequency=float(frequency[col]),
                group=group_of.get(col),
            )
        )
    groups = []
    for ids in members:
        groups.append(_group(coefs, directions, ids, tuple(features[i].name for i in ids)))
    directions = np.ascontiguousarray(directions)
    directions.setflags(write=False)
    return GroundTruth(
        hook=hook,
        basis="compressed" if compressed else "compiled",
        features=tuple(features),
        directions=directions,
        groups=tuple(groups),
        dataset=description + (" (BOS positions included)" if include_bos else ""),
        positions=len(coefs),
    )


def _group(
    coefs: np.ndarray, directions: np.ndarray, ids: list[int], names: tuple[str, ...]
) -> FeatureGroup:
    """The group's direction: its members' directions, sign-aligned with the first and
    weighted by how strongly each fires (the sum an SAE sees when they co-fire, their
    common line when they are collinear)."""
    rows = directions[ids]
    signs = np.where(rows @ rows[0] < 0, -1.0, 1.0)
    summed = (np.linalg.norm(coefs[:, ids], axis=0) * signs) @ rows
    direction = summed / np.linalg.norm(summed)
    direction.setflags(write=False)
    return FeatureGroup(names, direction)


# ---------------------------------------------------------------------------- scoring


@dataclass(frozen=True)
class FeatureScore:
    """How one ground-truth feature fared (cosines are absolute values)."""

    feature: str
    status: str
    outcome: str  # OUTCOMES for active features; the status otherwise
    best_latent: int
    best_cosine: float
    matched_latent: int | None  # the Hungarian matching's partner
    matched_cosine: float
    matching_latents: tuple[int, ...]  # latents it is the closest feature of
    group: int | None


@dataclass(frozen=True)
class LatentMerge:
    """Latent ``latent`` lies (within ``cosine``) in the span of several ``features``."""

    latent: int
    features: tuple[str, ...]
    cosine: float  # norm of the unit latent's projection onto their span
    indistinguishable: bool  # they are one indistinguishable group: the best possible


@dataclass(frozen=True)
class SAEScore:
    """An SAE decoder scored against a :class:`GroundTruth`."""

    hook: str
    basis: str
    latents: int
    threshold: float
    features: tuple[FeatureScore, ...]
    merges: tuple[LatentMerge, ...]
    mcc: float  # Hungarian one-to-one, unmatched active features count 0
    mmcs: float  # mean over active features of the best latent's cosine
    mcc_identifiable: float  # mcc with each indistinguishable group as one feature
    matching: str  # "hungarian" (scipy) or "greedy" (scipy missing)

    def _outcome(self, *outcomes: str) -> tuple[str, ...]:
        return tuple(f.feature for f in self.features if f.outcome in outcomes)

    @property
    def scored(self) -> tuple[str, ...]:
        return self._outcome(*OUTCOMES)

    @property
    def recovered(self) -> tuple[str, ...]:
        """Active features some latent matches within the threshold (split ones too)."""
        return self._outcome("recovered", "split")

    @property
    def split(self) -> tuple[str, ...]:
        return self._outcome("split")

    @property
    def merged(self) -> tuple[str, ...]:
        return self._outcome("merged")

    @property
    def missed(self) -> tuple[str, ...]:
        return self._outcome("missed")

    def feature(self, name: str) -> FeatureScore:
        for f in self.features:
            if f.feature == name:
                return f
        raise RaspcValueError(f"no feature {name!r} was scored; the features are {self.scored}")

    def summary(self) -> str:
        """A readable table: the headline numbers, one row per feature, the merges."""
        n = len(self.scored)
        unscored = {s: sum(f.outcome == s for f in self.features) for s in STATUSES[1:]}
        lines = [
            f"SAE at {self.hook} ({self.basis}): {self.latents} latents, {n} of "
            f"{len(self.features)} features active and scored",
            f"  MCC {self.mcc:.3f}  mean max cos {self.mmcs:.3f}  identifiable MCC "
            f"{self.mcc_identifiable:.3f}  ({self.matching} matching, threshold "
            f"{self.threshold:g})",
            f"  recovered {len(self.recovered)}/{n} (split {len(self.split)}), merged "
            f"{len(self.merged)}, missed {len(self.missed)}; unscored: "
            + (", ".join(f"{k} {s}" for s, k in unscored.items() if k) or "none"),
        ]
        rows = [("feature", "outcome", "best cos", "latent", "matched", "group")]
        for f in self.features:
            matched = "-" if f.matched_latent is None else f"{f.matched_cosine:.3f}"
            group = "-" if f.group is None else str(f.group)
            rows.append(
                (f.feature, f.outcome, f"{f.best_cosine:.3f}", str(f.best_latent), matched, group)
            )
        lines += _table(rows)
        for m in self.merges:
            tag = ", indistinguishable group" if m.indistinguishable else ""
            lines.append(
                f"  latent {m.latent} merges {' + '.join(m.features)} ({m.cosine:.3f}{tag})"
            )
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "hook": self.hook,
            "basis": self.basis,
            "latents": self.latents,
            "threshold": self.threshold,
            "mcc": self.mcc,
            "mmcs": self.mmcs,
            "mcc_identifiable": self.mcc_identifiable,
            "matching": self.matching,
            "features": [
                {
                    "feature": f.feature,
                    "status": f.status,
                    "outcome": f.outcome,
                    "best_latent": f.best_latent,
                    "best_cosine": f.best_cosine,
                    "matched_latent": f.matched_latent,
                    "matched_cosine": f.matched_cosine,
                    "matching_latents": list(f.matching_latents),
                    "group": f.group,
                }
                for f in self.features
            ],
            "merges": [
                {
                    "latent": m.latent,
                    "features": list(m.features),
                    "cosine": m.cosine,
                    "indistinguishable": m.indistinguishable,
                }
                for m in self.merges
            ],
        }


def _table(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]


def _decoder(decoder: Any, truth: GroundTruth) -> np.ndarray:
    """``[L, d_in]`` float64 from an array, a torch tensor or an SAE's ``W_dec``."""
    hook = getattr(getattr(getattr(decoder, "cfg", None), "metadata", None), "hook_name", None)
    if isinstance(hook, str) and hook != truth.hook:
        warnings.warn(
            f"the SAE was trained on {hook!r} but is scored against the truth at "
            f"{truth.hook!r}; pass ground_truth(model, {hook!r}, ...)",
            SAEHookWarning,
            stacklevel=3,
        )
    matrix = getattr(decoder, "W_dec", decoder)
    if hasattr(matrix, "detach"):
        matrix = matrix.detach().cpu().float().numpy()
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[1] != truth.d_in or not len(matrix):
        fix = (
            " (it looks transposed: pass decoder.T)"
            if matrix.ndim == 2 and matrix.shape[0] == truth.d_in
            else ""
        )
        raise RaspcValueError(
            f"the decoder must be [latents, d_in={truth.d_in}] for {truth.hook} "
            f"({truth.basis}), found shape {list(matrix.shape)}{fix}"
        )
    return matrix


def _unit(rows: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(rows, axis=-1, keepdims=True)
    return np.divide(rows, norms, out=np.zeros_like(rows), where=norms > 1e-12)


def _match(cos: np.ndarray) -> tuple[dict[int, int], str]:
    """A one-to-one matching of rows to columns maximising the summed cosine."""
    try:
        from scipy.optimize import linear_sum_assignment
    except ImportError:  # greedy: best remaining pair first
        pairs: dict[int, int] = {}
        used: set[int] = set()
        for flat in np.argsort(-cos, axis=None, kind="stable"):
            r, c = divmod(int(flat), cos.shape[1])
            if r not in pairs and c not in used:
                pairs[r] = c
                used.add(c)
        return pairs, "greedy"
    rows, cols = linear_sum_assignment(cos, maximize=True)
    return {int(r): int(c) for r, c in zip(rows, cols)}, "hungarian"


def _merges(
    truth: GroundTruth,
    unit_truth: np.ndarray,
    latents: np.ndarray,
    cos: np.ndarray,
    scored: list[int],
    threshold: float,
    merge_min: float,
    max_merge: int,
) -> list[LatentMerge]:
    """Latents that match no single active feature but are a positive mix of a few
    (at most ``max_merge``): a whole indistinguishable group first, else the fewest
    features, added closest first."""
    found = []
    for latent in range(len(latents)):
        column = cos[scored, latent]
        if column.size and column.max() >= threshold:
            continue
        group = next(
            (g for g in truth.groups if abs(float(g.direction @ latents[latent])) >= threshold),
            None,
        )
        if group is not None:
            c = abs(float(group.direction @ latents[latent]))
            found.append(LatentMerge(latent, group.features, c, True))
            continue
        chosen: list[int] = []
        reach, positive = 0.0, False
        for k in np.argsort(-column, kind="stable")[:max_merge]:
            if column[k] < merge_min:
                break
            chosen.append(scored[int(k)])
            signed = unit_truth[chosen] * np.sign(unit_truth[chosen] @ latents[latent])[:, None]
            coef, *_ = np.linalg.lstsq(signed.T, latents[latent], rcond=None)
            reach, positive = float(np.linalg.norm(signed.T @ coef)), bool((coef > 0).all())
            if reach >= threshold:
                break
        if len(chosen) >= 2 and reach >= threshold and positive:
            names = tuple(truth.features[i].name for i in chosen)
            groups = {truth.features[i].group for i in chosen}
            same = len(groups) == 1 and None not in groups
            found.append(LatentMerge(latent, names, reach, same))
    return found


def score_sae(
    decoder: Any,
    truth: GroundTruth,
    *,
    threshold: float = 0.9,
    merge_min: float = 0.3,
    max_merge: int = 3,
) -> SAEScore:
    """Score an SAE's decoder against the ground truth at its hook.

    ``decoder``: ``[latents, d_in]`` (numpy, torch, or a SAELens ``SAE``: its
    ``W_dec``).  A latent matches the active feature closest to it (absolute
    cosine) when their cosine is at least ``threshold``; a latent that matches no
    single feature *merges* the active features it is a positive mix of (within
    ``threshold``): all of an indistinguishable group, or at most ``max_merge``
    features, each with cosine at least ``merge_min``.  Only active features are
    scored (see :class:`GroundTruth`); the others appear with their status as outcome.

    >>> import compiler, rasp
    >>> from rasp import lib
    >>> model = compiler.compile_rasp_to_model(lib.make_reverse(rasp.tokens), {"a", "b"}, 3)
    >>> truth = ground_truth(model, "blocks.2.hook_resid_mid")
    >>> score = score_sae(truth.directions, truth)
    >>> score.mcc, len(score.recovered) == len(score.scored), score.missed
    (1.0, True, ())
    """
    if not 0 < merge_min <= threshold <= 1:
        raise RaspcValueError(
            f"expected 0 < merge_min <= threshold <= 1, found merge_min {merge_min}, "
            f"threshold {threshold}"
        )
    latents = _unit(_decoder(decoder, truth))
    unit_truth = _unit(np.asarray(truth.directions, dtype=np.float64))
    cos = np.abs(unit_truth @ latents.T)  # [F, L]
    scored = [i for i, f in enumerate(truth.features) if f.scored]
    pairs, how = _match(cos[scored]) if scored else ({}, "hungarian")
    matched = {scored[r]: c for r, c in pairs.items()}
    merges = _merges(truth, unit_truth, latents, cos, scored, threshold, merge_min, max_merge)
    in_merge = {name for m in merges for name in m.features}
    results = []
    owner = _latent_owners(cos, scored, threshold)
    for i, f in enumerate(truth.features):
        hits = tuple(j for j, o in enumerate(owner) if o == i) if f.scored else ()
        if not f.scored:
            outcome = f.status
        elif len(hits) >= 2:
            outcome = "split"
        elif hits:
            outcome = "recovered"
        else:
            outcome = "merged" if f.name in in_merge else "missed"
        partner = matched.get(i)
        results.append(
            FeatureScore(
                feature=f.name,
                status=f.status,
                outcome=outcome,
                best_latent=int(cos[i].argmax()),
                best_cosine=float(cos[i].max()),
                matched_latent=partner,
                matched_cosine=float(cos[i, partner]) if partner is not None else 0.0,
                matching_latents=hits,
                group=f.group,
            )
        )
    mcc = float(sum(cos[i, c] for i, c in matched.items()) / len(scored)) if scored else 0.0
    mmcs = float(cos[scored].max(axis=1).mean()) if scored else 0.0
    return SAEScore(
        hook=truth.hook,
        basis=truth.basis,
        latents=len(latents),
        threshold=threshold,
        features=tuple(results),
        merges=tuple(merges),
        mcc=mcc,
        mmcs=mmcs,
        mcc_identifiable=_identifiable_mcc(truth, unit_truth, latents, scored),
        matching=how,
    )


def _latent_owners(cos: np.ndarray, scored: list[int], threshold: float) -> list[int | None]:
    """Per latent, the active feature it matches: its closest one, if within ``threshold``
    (so a latent counts for one feature, even where superposed features lie close)."""
    if not scored:
        return [None] * cos.shape[1]
    best = cos[scored].argmax(axis=0)
    return [
        scored[int(b)] if cos[scored[int(b)], j] >= threshold else None for j, b in enumerate(best)
    ]


def _identifiable_mcc(
    truth: GroundTruth, unit_truth: np.ndarray, latents: np.ndarray, scored: list[int]
) -> float:
    """MCC over what the data can identify: ungrouped active features, one direction
    per indistinguishable group."""
    units = [unit_truth[i] for i in scored if truth.features[i].group is None]
    units += [g.direction for g in truth.groups]
    if not units:
        return 0.0
    cos = np.abs(np.stack(units) @ latents.T)
    pairs, _ = _match(cos)
    return float(sum(cos[r, c] for r, c in pairs.items()) / len(units))
