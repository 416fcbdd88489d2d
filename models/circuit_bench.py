"""A circuit-discovery benchmark whose ground truth is known: raspc's compiled programs.

Discovery methods (activation patching, attribution patching, auto-circuit's ACDC and
EAP) score every edge of a transformer's graph; raspc knows which edges carry the
program (:func:`compiler.edges.edge_set`).  This module runs methods on the
``HookedTransformer`` export of every library program (and, optionally, generated
ones) and scores each against that ground truth:

- **ROC AUC** of the method's edge scores against the ground-truth edges (bias-only
  edges included: they are part of the circuit);
- **precision / recall** of the *found* circuit: the edges scoring above the method's
  threshold (:data:`THRESHOLDS`; a method without one keeps its top ``|ground truth|``
  edges);
- **faithfulness**: exact-match accuracy (whole output sequence right) on the prompts
  when every edge outside the found circuit is ablated.

Each program's row also says how many ground-truth edges the prompts make *needed*
(ablating that one edge changes some answer) and the faithfulness of the ground truth
itself (1.0 when the edge set is complete) and of the empty circuit.  Which edges are
needed depends on the ablation and the data: under resample ablation an edge that
carries only BOS, ``one`` or the positions from ``Resid Start`` reads the same on the
clean and the corrupt prompt and can never be needed; zero ablation needs most of them.

Ablation (:data:`ABLATIONS`: resample, the default, zero or token-wise mean).
Edge-level path patching on TransformerLens hooks: the input of a destination
(``hook_q_input`` / ``hook_k_input`` / ``hook_v_input`` of one head, ``hook_mlp_in``,
or the last ``hook_resid_post`` for ``Resid End``) becomes the clean input minus
``(current - ablated)`` output of each ablated upstream source (``hook_resid_pre`` of
block 0 for ``Resid Start``, a head's ``attn.hook_result``, ``hook_mlp_out``).  There
is no layer norm, so a destination's input is exactly the sum of its sources and one
edge can be removed alone.  Many single-edge experiments run in one batched forward
pass (each experiment on its own copy of the prompts), and edges whose source cannot
reach the destination through the weights (most of them) are left out of the passes:
their numbers are exactly the unpatched ones.

Metric.  Per prompt and per position where the clean and corrupt answers differ, the
logit difference between the clean and the corrupt answer (a None answer is the
constant 0.5 the decoder compares against; a numerical output is its value, scaled so
the clean answer is 1 and the corrupt one 0), divided by its clean value and averaged:
1.0 on clean prompts.

Methods (:data:`METHODS`), each ``method(hooked, model, prompts, *, ablation) ->
{edge: score}``, higher = more important:

- ``patching``: single-edge activation patching; an edge's score is the larger of the
  drop in exact-match accuracy and the absolute change of the metric (so an edge that
  changes answers where the metric does not look still scores);
- ``attribution``: attribution patching, ``|grad(metric) . (ablated - clean)|`` per
  edge from one forward and backward pass;
- ``acdc``, ``eap``: auto-circuit's, added by :func:`load_optional_methods` when
  :mod:`models.autocircuit` and auto-circuit import.

Needs torch and TransformerLens 2.x/3.x (the ``hooked`` extra); imported lazily.
Matplotlib for :func:`plot_bench` only.
"""

from __future__ import annotations

import contextlib
import csv
import io
import math
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from compiler.circuit import circuit_map
from compiler.edges import RESID_END, RESID_START, EdgeSet, all_edges, edge_set
from models.prompts import PromptSet, prompt_set
from models.verification import values_match
from rasp.errors import RaspcError, RaspcValueError

if TYPE_CHECKING:
    import torch
    from transformer_lens import HookedTransformer

__all__ = [
    "METHODS",
    "THRESHOLDS",
    "BenchResult",
    "EdgePatcher",
    "Method",
    "MethodResult",
    "ProgramResult",
    "activation_patching",
    "attribution_patching",
    "bench_circuits",
    "bench_program",
    "found_circuit",
    "generated_models",
    "ground_truth",
    "library_models",
    "load_optional_methods",
    "plot_bench",
    "roc_auc",
    "torch_threads",
]

Method = Callable[..., dict[str, float]]
"""``method(hooked, model, prompts, *, ablation="resample") -> {edge name: score}``,
higher = more important (the contract's three arguments, plus the ablation keyword
that every registered method takes)."""

NUMERIC_TOL = 1e-3
"""A numerical output matches its answer within this (absolute and relative)."""
NONE_LOGIT = 0.5
"""The logit a None answer stands for: the decoder's threshold (models.encoders)."""
ABLATIONS = ("resample", "zero", "mean")
"""What an ablated edge carries instead: the source's output on the corrupt prompt,
zero, or its token-wise mean over the clean and corrupt prompts (auto-circuit's
``TOKENWISE_MEAN_CLEAN_AND_CORRUPT``)."""
MAX_ROWS = 2048
"""Prompt rows per batched forward pass (experiments x prompts)."""


def _require_torch() -> Any:
    from models.hooked import _require_hooked

    _require_hooked()
    import torch

    return torch


# ---------------------------------------------------------------- the edge graph on TL hooks


def _src_hook(name: str) -> tuple[str, int | None]:
    """The hook holding a source's output, and its head index (None: the whole tensor)."""
    if name == RESID_START:
        return "blocks.0.hook_resid_pre", None
    if name.startswith("A"):
        layer, head = name[1:].split(".")
        return f"blocks.{layer}.attn.hook_result", int(head)
    return f"blocks.{int(name.split()[1])}.hook_mlp_out", None


def _dst_hook(name: str, num_layers: int) -> tuple[str, int | None]:
    """The hook holding a destination's input, and its head index."""
    if name == RESID_END:
        return f"blocks.{num_layers - 1}.hook_resid_post", None
    if name.startswith("A"):
        layer, head, role = name[1:].split(".")
        return f"blocks.{layer}.hook_{role.lower()}_input", int(head)
    return f"blocks.{int(name.split()[1])}.hook_mlp_in", None


@dataclass(frozen=True)
class _Graph:
    """Every edge of a model's graph (auto-circuit's order) with its sources' and
    destinations' hooks."""

    edges: tuple[str, ...]
    src: tuple[str, ...]  # per edge
    dst: tuple[str, ...]
    src_hook: Mapping[str, tuple[str, int | None]]
    dst_hook: Mapping[str, tuple[str, int | None]]

    @classmethod
    def of(cls, num_layers: int, num_heads: int) -> _Graph:
        edges = tuple(all_edges(num_layers, num_heads))
        src = tuple(e.split("->")[0] for e in edges)
        dst = tuple(e.split("->")[1] for e in edges)
        return cls(
            edges=edges,
            src=src,
            dst=dst,
            src_hook={s: _src_hook(s) for s in dict.fromkeys(src)},
            dst_hook={d: _dst_hook(d, num_layers) for d in dict.fromkeys(dst)},
        )


# ---------------------------------------------------------------- answers and the metric


class _Targets:
    """The prompts' answers as tensors, and the two measures of a (patched) run:
    exact-match per prompt and the normalized logit-difference metric."""

    def __init__(self, model: Any, prompts: PromptSet) -> None:
        torch = _require_torch()
        out = model.layout.output_node
        self.numerical = out.encoding == "numerical"
        n, t = prompts.clean.shape
        self.mask = torch.tensor(prompts.mask)
        diff = np.zeros((n, t), dtype=bool)
        if self.numerical:
            ans, cans = np.zeros((n, t)), np.zeros((n, t))
            value = lambda v: 0.0 if v is None else float(v)
        else:
            index = {v: i for i, v in enumerate(out.values)}
            self.none = len(out.values)
            ans, cans = np.zeros((n, t), np.int64), np.zeros((n, t), np.int64)
            value = lambda v: self.none if v is None else index[v]
        for row, (a, b) in enumerate(zip(prompts.answers, prompts.corrupt_answers)):
            for pos, x in enumerate(a):
                ans[row, pos + 1] = value(x)
            for pos, (x, y) in enumerate(zip(a, b)):
                cans[row, pos + 1] = value(y)
                diff[row, pos + 1] = not values_match(x, y, NUMERIC_TOL)
        self.ans, self.cans = torch.tensor(ans), torch.tensor(cans)
        self.diff = torch.tensor(diff)
        self.scale = torch.ones(n, t)

    def _logit_diff(self, logits: torch.Tensor) -> torch.Tensor:
        """``[K, N, T]`` logit of the clean answer minus that of the corrupt answer."""
        torch = _require_torch()
        if self.numerical:
            y = logits[..., 0]
            return (y - self.cans) / torch.where(self.diff, self.ans - self.cans, 1.0)
        z = logits[..., : self.none]
        z = torch.cat([z, torch.full_like(z[..., :1], NONE_LOGIT)], dim=-1)
        pick = lambda idx: z.gather(-1, idx.expand(z.shape[:-1]).unsqueeze(-1))[..., 0]
        return pick(self.ans) - pick(self.cans)

    def calibrate(self, clean_logits: torch.Tensor) -> None:
        """Divide the metric by its clean value (so clean prompts score 1.0); positions
        where the clean run barely separates the answers are left out."""
        ld = self._logit_diff(clean_logits[None])[0].detach()
        keep = self.diff & (ld.abs() > 1e-6)
        self.diff = keep
        self.scale = _torch_where(keep, ld, 1.0)

    def metric(self, logits: torch.Tensor) -> torch.Tensor:
        """``[K]``: the mean normalized logit difference of each experiment."""
        ld = self._logit_diff(logits) / self.scale
        weight = self.diff.to(ld.dtype)
        per_row = (ld * weight).sum(-1) / weight.sum(-1).clamp(min=1)
        has = (weight.sum(-1) > 0).to(ld.dtype)
        return (per_row * has).sum(-1) / has.sum().clamp(min=1)

    def exact(self, logits: torch.Tensor) -> torch.Tensor:
        """``[K]``: the fraction of prompts whose whole answer comes out right."""
        if self.numerical:
            y = logits[..., 0]
            ok = (y - self.ans).abs() <= NUMERIC_TOL * (1 + self.ans.abs())
        else:
            z = logits[..., : self.none]
            top, best = z.max(-1)
            pred = best.where(top >= NONE_LOGIT, self.none)
            ok = pred == self.ans
        ok = ok | ~self.mask
        return ok.all(-1).to(logits.dtype).mean(-1)


def _torch_where(cond: Any, a: Any, b: float) -> Any:
    torch = _require_torch()
    return torch.where(cond, a, torch.as_tensor(b, dtype=a.dtype))


# ---------------------------------------------------------------- path patching


class EdgePatcher:
    """Edge-level ablation (resample, zero or mean: :data:`ABLATIONS`) of one model on
    one prompt set.

    ``run(experiments)`` takes lists of edge indices (into :attr:`edges`, auto-circuit's
    order) to ablate together and returns, per experiment, the exact-match accuracy and
    the metric; experiments are batched ``MAX_ROWS // N`` to a forward pass.
    """

    def __init__(
        self,
        hooked: HookedTransformer,
        model: Any,
        prompts: PromptSet,
        *,
        ablation: str = "resample",
    ) -> None:
        torch = _require_torch()
        _check_ablation(ablation)
        self.ablation = ablation
        self.torch = torch
        self.hooked = hooked
        cfg = model.model_config
        self.graph = _Graph.of(cfg.num_layers, cfg.num_heads)
        self.edges = self.graph.edges
        self.index = {e: i for i, e in enumerate(self.edges)}
        self.clean = torch.tensor(prompts.clean, dtype=torch.long)
        self.corrupt = torch.tensor(prompts.corrupt, dtype=torch.long)
        self.n = len(prompts)
        self.targets = _Targets(model, prompts)
        hooks = {h for h, _ in self.graph.src_hook.values()}
        with torch.no_grad():
            _, cache = hooked.run_with_cache(self.corrupt, names_filter=lambda n: n in hooks)
            clean_logits, clean_cache = hooked.run_with_cache(
                self.clean, names_filter=lambda n: n in hooks
            )
        corrupt = {s: _pick(cache[h], head) for s, (h, head) in self.graph.src_hook.items()}
        self.clean_out = {
            s: _pick(clean_cache[h], head) for s, (h, head) in self.graph.src_hook.items()
        }
        if ablation == "resample":
            self.ablated_out = corrupt
        elif ablation == "zero":
            self.ablated_out = {s: torch.zeros_like(a) for s, a in corrupt.items()}
        else:  # token-wise mean over the clean and corrupt prompts (auto-circuit's)
            self.ablated_out = {
                s: torch.cat([a, self.clean_out[s]]).mean(0, keepdim=True).expand_as(a)
                for s, a in corrupt.items()
            }
        self.targets.calibrate(clean_logits)
        self.inert = _inert_edges(hooked, self.graph)
        self.clean_accuracy = float(self.targets.exact(clean_logits[None])[0])
        self.clean_metric = float(self.targets.metric(clean_logits[None])[0])

    def run(self, experiments: Sequence[Iterable[int]]) -> tuple[np.ndarray, np.ndarray]:
        """``(accuracy [K], metric [K])`` with each experiment's edges ablated.

        Inert edges (:meth:`inert`) are left out of the forward passes: removing them
        changes nothing, on any input, so the numbers are those of the full run."""
        live = [[e for e in exp if not self.inert[e]] for exp in experiments]
        acc = np.full(len(live), self.clean_accuracy)
        met = np.full(len(live), self.clean_metric)
        todo = [j for j, exp in enumerate(live) if exp]
        per = max(1, MAX_ROWS // self.n)
        for start in range(0, len(todo), per):
            js = todo[start : start + per]
            logits = self._forward([live[j] for j in js])
            logits = logits.view(len(js), self.n, *logits.shape[1:])
            acc[js] = self.targets.exact(logits).numpy()
            met[js] = self.targets.metric(logits).numpy()
        return acc, met

    def accuracy_without(self, kept: Iterable[str]) -> float:
        """Exact-match accuracy with every edge *not* in ``kept`` ablated."""
        keep = set(kept)
        unknown = keep - set(self.index)
        if unknown:
            raise RaspcValueError(
                f"edges {sorted(unknown)} are not edges of this model's graph; names look "
                f"like {self.edges[:2]}"
            )
        acc, _ = self.run([[i for i, e in enumerate(self.edges) if e not in keep]])
        return float(acc[0])

    def _forward(self, chunk: list[list[int]]) -> torch.Tensor:
        torch = self.torch
        k, n = len(chunk), self.n
        # per destination hook: (head, source, experiment) triples; experiment j owns
        # rows j*n .. (j+1)*n, so every patch is an in-place edit of a slice (a view)
        work: dict[str, list[tuple[int | None, str, int]]] = {}
        for j, experiment in enumerate(chunk):
            for e in experiment:
                hook, head = self.graph.dst_hook[self.graph.dst[e]]
                work.setdefault(hook, []).append((head, self.graph.src[e], j))
        current: dict[str, torch.Tensor] = {}
        src_hooks = {self.graph.src_hook[src][0] for ts in work.values() for _, src, _ in ts}

        def record(act: torch.Tensor, hook: Any) -> None:
            current[hook.name] = act

        def patch(act: torch.Tensor, hook: Any) -> torch.Tensor:
            # act is a fresh tensor here (TL builds q/k/v inputs by repeat, mlp_in by clone)
            for head, src, j in work[hook.name]:
                src_hook, src_head = self.graph.src_hook[src]
                rows = slice(j * n, (j + 1) * n)
                now = current[src_hook][rows]
                now = now if src_head is None else now[:, :, src_head]
                delta = now - self.ablated_out[src]
                if head is None:
                    act[rows] -= delta
                else:
                    act[rows, :, head] -= delta
            return act

        fwd = [(h, record) for h in sorted(src_hooks)] + [(h, patch) for h in sorted(work)]
        with torch.no_grad():
            return self.hooked.run_with_hooks(self.clean.repeat(k, 1), fwd_hooks=fwd)

    def attribution(self) -> np.ndarray:
        """``[E]`` attribution-patching estimates of each edge's metric change,
        ``grad(metric) . (corrupt - clean)`` summed over prompts and positions."""
        torch = self.torch
        current: dict[str, torch.Tensor] = {}
        dst_hooks = sorted({h for h, _ in self.graph.dst_hook.values()})

        def leaf(act: torch.Tensor, hook: Any) -> torch.Tensor:
            act = act.detach().requires_grad_(True)  # the graph starts at the embeddings
            current[hook.name] = act
            return act

        def record(act: torch.Tensor, hook: Any) -> None:
            current[hook.name] = act

        start = self.graph.src_hook[RESID_START][0]
        fwd = [(start, leaf)] + [(h, record) for h in dst_hooks if h != start]
        with torch.enable_grad():
            logits = self.hooked.run_with_hooks(self.clean, fwd_hooks=fwd)
            metric = self.targets.metric(logits[None])[0]
            grads = torch.autograd.grad(metric, [current[h] for h in dst_hooks], allow_unused=True)
        grad = {h: g for h, g in zip(dst_hooks, grads)}
        scores = np.zeros(len(self.edges))
        for i, (src, dst) in enumerate(zip(self.graph.src, self.graph.dst)):
            hook, head = self.graph.dst_hook[dst]
            g = grad[hook]
            if g is None:
                continue
            g = g if head is None else g[:, :, head]
            delta = self.ablated_out[src] - self.clean_out[src]
            scores[i] = float((g * delta).sum())
        return scores


def _inert_edges(hooked: Any, graph: _Graph) -> np.ndarray:
    """``bool [E]``: edges whose source's every possible output is invisible to the
    destination (its output rows times the destination's input weights are all zero),
    so ablating them changes nothing under any ablation and any input."""
    state = {k: v.detach().double() for k, v in hooked.state_dict().items()}

    def writes(src: str) -> Any:
        if src == RESID_START:
            return _cat(state["embed.W_E"], state["pos_embed.W_pos"])
        if src.startswith("A"):
            layer, head = src[1:].split(".")
            return state[f"blocks.{layer}.attn.W_O"][int(head)]
        layer = int(src.split()[1])
        return _cat(state[f"blocks.{layer}.mlp.W_out"], state[f"blocks.{layer}.mlp.b_out"][None])

    def reads(dst: str) -> Any:
        if dst == RESID_END:
            return state["unembed.W_U"]
        if dst.startswith("A"):
            layer, head, role = dst[1:].split(".")
            return state[f"blocks.{layer}.attn.W_{role}"][int(head)]
        return state[f"blocks.{int(dst.split()[1])}.mlp.W_in"]

    dsts = list(graph.dst_hook)
    inp = [reads(d) for d in dsts]
    bounds = np.cumsum([0] + [m.shape[1] for m in inp])
    every = _cat(*inp, dim=1)  # [D, all destinations' columns]: one product per source
    seen = {}
    for s in graph.src_hook:
        big = (writes(s) @ every).abs().amax(dim=0).numpy()
        seen[s] = {d: big[bounds[i] : bounds[i + 1]].max(initial=0.0) for i, d in enumerate(dsts)}
    return np.asarray([seen[s][d] <= 1e-9 for s, d in zip(graph.src, graph.dst)])


def _cat(*parts: Any, dim: int = 0) -> Any:
    torch = _require_torch()
    return torch.cat(parts, dim=dim)


def _check_ablation(ablation: str) -> None:
    if ablation not in ABLATIONS:
        raise RaspcValueError(
            f"unknown ablation {ablation!r}; expected one of {', '.join(ABLATIONS)}"
        )


def _pick(act: Any, head: int | None) -> Any:
    return (act if head is None else act[:, :, head]).detach().clone()


# ---------------------------------------------------------------- methods


def activation_patching(
    hooked: Any, model: Any, prompts: PromptSet, *, ablation: str = "resample"
) -> dict[str, float]:
    """Single-edge ablation: each edge's larger of the exact-match drop and the absolute
    metric change."""
    patcher = EdgePatcher(hooked, model, prompts, ablation=ablation)
    acc, met = patcher.run([[i] for i in range(len(patcher.edges))])
    drop = np.maximum(patcher.clean_accuracy - acc, np.abs(patcher.clean_metric - met))
    return {e: float(s) for e, s in zip(patcher.edges, drop)}


def attribution_patching(
    hooked: Any, model: Any, prompts: PromptSet, *, ablation: str = "resample"
) -> dict[str, float]:
    """Attribution patching: ``|grad(metric) . (ablated - clean)|`` per edge (one forward
    and one backward pass; a linear estimate of what activation patching measures)."""
    patcher = EdgePatcher(hooked, model, prompts, ablation=ablation)
    return {e: float(abs(s)) for e, s in zip(patcher.edges, patcher.attribution())}


METHODS: dict[str, Method] = {
    "patching": activation_patching,
    "attribution": attribution_patching,
}
"""Discovery methods by name; :func:`load_optional_methods` adds auto-circuit's."""

THRESHOLDS: dict[str, float] = {"patching": 1e-3, "attribution": 1e-3}
"""Score above which an edge is in a method's found circuit; a method not listed here
(and without a ``threshold`` attribute) keeps its top ``|ground truth|`` edges."""


def load_optional_methods() -> dict[str, Method]:
    """Add auto-circuit's ``acdc`` and ``eap`` (:mod:`models.autocircuit`) to
    :data:`METHODS` when auto-circuit is installed; returns :data:`METHODS`."""
    import importlib.util

    if importlib.util.find_spec("auto_circuit") is None:
        return METHODS
    try:
        from models import autocircuit
    except ImportError:
        return METHODS
    for name, attr in (("acdc", "acdc_scores"), ("eap", "eap_scores")):
        fn = getattr(autocircuit, attr, None)
        if fn is not None:
            METHODS.setdefault(name, fn)
    return METHODS


def method_threshold(name: str, method: Method) -> float | None:
    """The method's threshold (:data:`THRESHOLDS`, else its ``threshold`` attribute)."""
    return THRESHOLDS.get(name, getattr(method, "threshold", None))


# ---------------------------------------------------------------- scoring


def roc_auc(scores: Mapping[str, float], positives: Iterable[str]) -> float:
    """ROC AUC of ``scores`` (every edge) against the ``positives``: the chance that a
    positive outscores a negative, ties counting half (so ``inf`` scores work); NaN when
    either class is empty."""
    pos_set = set(positives)
    pos = np.asarray([v for e, v in scores.items() if e in pos_set], dtype=np.float64)
    neg = np.asarray([v for e, v in scores.items() if e not in pos_set], dtype=np.float64)
    if not len(pos) or not len(neg):
        return math.nan
    greater = (pos[:, None] > neg[None, :]).sum()
    ties = (pos[:, None] == neg[None, :]).sum()
    return float((greater + 0.5 * ties) / (len(pos) * len(neg)))


def found_circuit(scores: Mapping[str, float], threshold: float | None, size: int) -> set[str]:
    """Edges scoring above ``threshold``, or (None) the ``size`` best (ties: graph order)."""
    if threshold is not None:
        return {e for e, s in scores.items() if s > threshold}
    ranked = sorted(scores, key=lambda e: -scores[e])
    return set(ranked[:size])


def ground_truth(model: Any) -> EdgeSet:
    """raspc's edge set of ``model`` (with the compiler's value sets when attached)."""
    values = model.compiled.values if getattr(model, "compiled", None) is not None else None
    return edge_set(circuit_map(model), model.params, values=values)


@dataclass(frozen=True)
class MethodResult:
    """One method on one program."""

    method: str
    auc: float
    precision: float
    recall: float
    threshold: float | None
    found: int
    faithfulness: float


@dataclass(frozen=True)
class ProgramResult:
    """One program: its graph, ground truth, what the prompts make needed, and methods."""

    program: str
    layers: int
    heads: int
    edges: int
    truth: int
    bias_only: int
    needed: int
    prompts: int
    truth_faithfulness: float
    empty_faithfulness: float
    methods: tuple[MethodResult, ...]
    not_needed: tuple[str, ...] = ()
    scores: Mapping[str, Mapping[str, float]] = field(default_factory=dict, repr=False)


@contextlib.contextmanager
def torch_threads(count: int | None) -> Iterator[None]:
    """Run with ``count`` torch threads (None: unchanged), restoring the setting after.
    These models are tiny: one thread is usually fastest, and far faster on a busy
    machine, where threads mostly wait for each other."""
    torch = _require_torch()
    before = torch.get_num_threads()
    if count is not None:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def bench_program(
    name: str,
    model: Any,
    *,
    methods: Sequence[str] = ("patching",),
    n: int = 64,
    seed: int = 0,
    vary_length: bool = True,
    keep_scores: bool = False,
    threads: int | None = 1,
    ablation: str = "resample",
) -> ProgramResult:
    """Run ``methods`` on one compiled model and score them against its ground truth,
    every method and the faithfulness runs under ``ablation`` (:data:`ABLATIONS`);
    ``threads``: torch threads while it runs (:func:`torch_threads`)."""
    _check_ablation(ablation)
    with torch_threads(threads):
        return _bench_program(name, model, methods, n, seed, vary_length, keep_scores, ablation)


def _bench_program(
    name: str,
    model: Any,
    methods: Sequence[str],
    n: int,
    seed: int,
    vary_length: bool,
    keep_scores: bool,
    ablation: str,
) -> ProgramResult:
    from models.hooked import to_hooked_transformer

    registry = load_optional_methods()
    unknown = [m for m in methods if m not in registry]
    if unknown:
        raise RaspcValueError(
            f"unknown circuit-discovery method(s) {unknown}; available: {sorted(registry)} "
            "(acdc and eap need auto-circuit: pip install 'raspc[hooked]' auto-circuit)"
        )
    hooked = to_hooked_transformer(model)
    prompts = prompt_set(model, n, seed=seed, vary_length=vary_length)
    truth = ground_truth(model)
    gt = truth.names()
    patcher = EdgePatcher(hooked, model, prompts, ablation=ablation)
    if patcher.clean_accuracy < 1.0:
        raise RaspcValueError(
            f"{name}: the HookedTransformer export gets only {patcher.clean_accuracy:.3f} of "
            "the clean prompts right, so patching scores would mean nothing"
        )
    gt_list = [e for e in patcher.edges if e in gt]
    acc, _ = patcher.run([[patcher.index[e]] for e in gt_list])
    not_needed = tuple(e for e, a in zip(gt_list, acc) if a >= patcher.clean_accuracy)
    results, all_scores = [], {}
    for m in methods:
        scores = registry[m](hooked, model, prompts, ablation=ablation)
        missing = set(patcher.edges) - set(scores)
        if missing:
            raise RaspcValueError(
                f"method {m!r} scored {len(scores)} edges of {name}, missing "
                f"{sorted(missing)[:3]}...; a method must score every edge of the graph"
            )
        scores = {e: scores[e] for e in patcher.edges}
        threshold = method_threshold(m, registry[m])
        found = found_circuit(scores, threshold, len(gt))
        hits = len(found & gt)
        results.append(
            MethodResult(
                method=m,
                auc=roc_auc(scores, gt),
                precision=hits / len(found) if found else math.nan,
                recall=hits / len(gt) if gt else math.nan,
                threshold=threshold,
                found=len(found),
                faithfulness=patcher.accuracy_without(found),
            )
        )
        if keep_scores:
            all_scores[m] = scores
    return ProgramResult(
        program=name,
        layers=model.model_config.num_layers,
        heads=model.model_config.num_heads,
        edges=len(patcher.edges),
        truth=len(gt),
        bias_only=len(gt) - len(truth.names(bias=False)),
        needed=len(gt_list) - len(not_needed),
        prompts=len(prompts),
        truth_faithfulness=patcher.accuracy_without(gt),
        empty_faithfulness=patcher.accuracy_without(()),
        methods=tuple(results),
        not_needed=not_needed,
        scores=all_scores,
    )


# ---------------------------------------------------------------- programs


def library_models(names: Sequence[str] | None = None) -> Iterator[tuple[str, Any]]:
    """``(name, model)`` for library programs (all by default), compiled at their
    registry vocabulary and length, bidirectional (as ``tests/test_hooked.py``)."""
    import compiler
    from rasp import lib

    chosen = sorted(lib.LIBRARY) if names is None else list(names)
    unknown = [x for x in chosen if x not in lib.LIBRARY]
    if unknown:
        raise RaspcValueError(
            f"unknown library program(s) {unknown}; see `raspc list` for the names"
        )
    for name in chosen:
        e = lib.LIBRARY[name]
        yield (
            name,
            compiler.compile_rasp_to_model(e.build(e.max_seq_len), set(e.vocab), e.max_seq_len),
        )


def generated_models(count: int, seed: int = 0) -> Iterator[tuple[str, Any]]:
    """``(name, model)`` for the compilable ones among ``count`` generated programs
    (:func:`rasp.generate.generate_programs`, small shapes); refused ones are skipped."""
    import compiler
    from rasp.generate import generate_programs

    shape = {"depth": (2, 4), "size": (2, 6), "vocab_size": (2, 3), "max_seq_len": (3, 5)}
    for g in generate_programs(count, seed, refusal_rate=0.0, **shape):
        try:
            model = compiler.compile_rasp_to_model(g.program, set(g.vocab), g.max_seq_len)
        except RaspcError:
            continue
        yield f"gen-{g.seed}", model


# ---------------------------------------------------------------- the whole benchmark


@dataclass(frozen=True)
class BenchResult:
    """Every program's result, the programs skipped (with why), and the settings."""

    programs: tuple[ProgramResult, ...]
    skipped: tuple[tuple[str, str], ...]
    settings: Mapping[str, Any]

    def rows(self) -> list[dict[str, Any]]:
        """One flat row per (program, method), as the CSV has them."""
        out = []
        for p in self.programs:
            for m in p.methods:
                out.append(
                    {
                        "program": p.program,
                        "layers": p.layers,
                        "heads": p.heads,
                        "edges": p.edges,
                        "truth": p.truth,
                        "bias_only": p.bias_only,
                        "needed": p.needed,
                        "truth_faith": p.truth_faithfulness,
                        "empty_faith": p.empty_faithfulness,
                        "method": m.method,
                        "auc": _round(m.auc),
                        "precision": _round(m.precision),
                        "recall": _round(m.recall),
                        "found": m.found,
                        "faithfulness": _round(m.faithfulness),
                    }
                )
        return out

    def aggregate(self) -> list[dict[str, Any]]:
        """Per method: means over programs, and how many found a faithful circuit."""
        out = []
        methods = list(dict.fromkeys(m.method for p in self.programs for m in p.methods))
        for name in methods:
            ms = [m for p in self.programs for m in p.methods if m.method == name]
            mean = lambda xs: _mean([x for x in xs if not math.isnan(x)])
            out.append(
                {
                    "method": name,
                    "programs": len(ms),
                    "auc": mean([m.auc for m in ms]),
                    "precision": mean([m.precision for m in ms]),
                    "recall": mean([m.recall for m in ms]),
                    "faithfulness": mean([m.faithfulness for m in ms]),
                    "faithful": sum(m.faithfulness >= 1.0 for m in ms),
                }
            )
        return out

    def table(self) -> str:
        """The summary table: one line per program and method, then the means."""
        head = ["program", "LxH", "edges", "truth", "needed", "method"]
        head += ["auc", "prec", "recall", "found", "faith"]
        lines = [head]
        for r in self.rows():
            lines.append(
                [
                    r["program"],
                    f"{r['layers']}x{r['heads']}",
                    str(r["edges"]),
                    f"{r['truth']} ({r['bias_only']}b)",
                    str(r["needed"]),
                    r["method"],
                    _fmt(r["auc"]),
                    _fmt(r["precision"]),
                    _fmt(r["recall"]),
                    str(r["found"]),
                    _fmt(r["faithfulness"]),
                ]
            )
        for a in self.aggregate():
            lines.append(
                [
                    f"MEAN ({a['programs']})",
                    "",
                    str(sum(p.edges for p in self.programs)),
                    str(sum(p.truth for p in self.programs)),
                    str(sum(p.needed for p in self.programs)),
                    a["method"],
                    _fmt(a["auc"]),
                    _fmt(a["precision"]),
                    _fmt(a["recall"]),
                    "",
                    f"{_fmt(a['faithfulness'])} ({a['faithful']} =1)",
                ]
            )
        widths = [max(len(row[i]) for row in lines) for i in range(len(head))]
        text = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in lines]
        text.insert(1, "  ".join("-" * w for w in widths))
        text.insert(len(text) - len(self.aggregate()), "  ".join("-" * w for w in widths))
        return "\n".join(text)

    def to_csv(self) -> str:
        rows = self.rows()
        buf = io.StringIO()
        if rows:
            writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
        return buf.getvalue()

    def to_json(self) -> dict[str, Any]:
        """Plain JSON (NaN as null): settings, rows, aggregates, per-program extras."""
        return _nan_to_none(
            {
                "format": "raspc-bench-circuits",
                "version": 1,
                "settings": dict(self.settings),
                "rows": self.rows(),
                "aggregate": self.aggregate(),
                "not_needed": {p.program: list(p.not_needed) for p in self.programs},
                "skipped": [list(s) for s in self.skipped],
                "programs": [
                    {k: v for k, v in asdict(p).items() if k not in ("methods", "scores")}
                    for p in self.programs
                ],
            }
        )


def _mean(xs: Sequence[float]) -> float:
    return _round(sum(xs) / len(xs)) if xs else math.nan


def _round(x: float) -> float:
    return x if math.isnan(x) else round(float(x), 4)


def _fmt(x: float) -> str:
    return "-" if x is None or math.isnan(x) else f"{x:.3f}"


def _nan_to_none(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _nan_to_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_nan_to_none(v) for v in value]
    return value


def bench_circuits(
    programs: Sequence[str] | None = None,
    *,
    methods: Sequence[str] = ("patching",),
    n: int = 64,
    seed: int = 0,
    vary_length: bool = True,
    generated: int = 0,
    generated_seed: int = 0,
    progress: Callable[[str], None] | None = None,
    threads: int | None = 1,
    ablation: str = "resample",
) -> BenchResult:
    """Benchmark ``methods`` on library programs (``programs``: names, default all) and
    ``generated`` generated ones.  A program whose export or prompts cannot be built is
    skipped with its reason (e.g. a constant output)."""
    _require_torch()
    _check_ablation(ablation)
    models: Iterable[tuple[str, Any]] = library_models(programs)
    if generated:
        models = [*models, *generated_models(generated, generated_seed)]
    results, skipped = [], []
    for name, model in models:
        start = time.perf_counter()
        try:
            result = bench_program(
                name,
                model,
                methods=methods,
                n=n,
                seed=seed,
                vary_length=vary_length,
                threads=threads,
                ablation=ablation,
            )
        except RaspcValueError as err:
            if "unknown circuit-discovery method" in str(err):
                raise
            skipped.append((name, " ".join(str(err).split())))
            continue
        results.append(result)
        if progress is not None:
            progress(f"{name}: {time.perf_counter() - start:.1f}s")
    settings = {
        "methods": list(methods),
        "prompts": n,
        "seed": seed,
        "vary_length": vary_length,
        "ablation": ablation,
        "generated": generated,
        "generated_seed": generated_seed,
    }
    return BenchResult(tuple(results), tuple(skipped), settings)


def plot_bench(result: BenchResult, path: str | Path) -> Path:
    """Per program: each method's ROC AUC and faithfulness as bars (a .png or .svg;
    matplotlib through :mod:`models.plots`, the ``plot`` extra)."""
    from models.plots import _check_path, _figure, _save

    path = _check_path(path)
    names = [p.program for p in result.programs]
    methods = list(dict.fromkeys(m.method for p in result.programs for m in p.methods))
    by = {p.program: {m.method: m for m in p.methods} for p in result.programs}
    fig = _figure(max(6.0, 0.45 * len(names) + 2), 6.0)
    axes = fig.subplots(2, 1, sharex=True)
    width = 0.8 / max(1, len(methods))
    x = np.arange(len(names))
    for k, method in enumerate(methods):
        for ax, attr in zip(axes, ("auc", "faithfulness")):
            ys = [getattr(by[n].get(method), attr, math.nan) for n in names]
            ax.bar(x + k * width, ys, width, label=method)
    axes[0].set_ylabel("ROC AUC vs ground truth", fontsize=8)
    axes[1].set_ylabel("faithfulness (exact match)", fontsize=8)
    for ax in axes:
        ax.set_ylim(0, 1.05)
        ax.axhline(1.0, color="grey", lw=0.5)
    axes[0].legend(fontsize=8)
    axes[1].set_xticks(x + 0.4 - width / 2, names, rotation=70, ha="right", fontsize=8)
    ablation = result.settings.get("ablation", "resample")
    fig.suptitle(f"circuit discovery on raspc programs ({ablation} ablation)")
    return _save(fig, path)
