"""auto-circuit's own ACDC and edge attribution patching (EAP) on compiled models.

A compiled model goes to auto-circuit through :func:`models.hooked.to_hooked_transformer`
(a TransformerLens 2.x/3.x ``HookedTransformer`` with split q/k/v inputs, per-head
results and ``hook_mlp_in``), then auto-circuit's ``patchable_model`` (factorized,
separate Q/K/V, every position patched at once, output read at every position after
BOS: auto-circuit's ``slice_output="not_first_seq"``, as its Tracr tasks do).  A
:class:`models.prompts.PromptSet` becomes auto-circuit's ``PromptDataset`` /
``PromptDataLoader``: clean and corrupt ids as they are (BOS first, PAD after) and,
per position after BOS, one answer and one wrong answer (the logit index of the clean
value and of the corrupt value; positions where they agree, PAD positions and None
values get the same index twice, so they add nothing to a logit difference).

:func:`acdc_scores` and :func:`eap_scores` have the circuit-method signature
``(hooked, model, prompts) -> {edge name: score}`` (higher = more important) with the
edge names of :mod:`compiler.edges`, so they score directly against
:func:`compiler.edges.edge_set`.  They run ``auto_circuit.prune_algos.ACDC.
acdc_prune_scores`` and ``auto_circuit.prune_algos.edge_attribution_patching.
edge_attribution_patching_prune_scores`` / ``mask_gradient.mask_gradient_prune_scores``
unchanged, on a copy of ``hooked`` (auto-circuit wraps a model's modules in place).

Ablation.  ``"resample"`` (the default; both tools' native mode: an edge's source is
taken from the corrupt prompt), ``"zero"`` or ``"mean"`` (the token-wise mean over
clean and corrupt prompts).  EAP gets zero/mean through auto-circuit's
``mask_gradient_prune_scores(grad_function="logit", mask_val=0)``, which its docstring
states is EAP exactly; ACDC has no ablation argument in auto-circuit 1.0.1, so
zero/mean swap the one ``src_ablations`` call ACDC makes on the corrupt batch for the
chosen ablation, for the duration of the call (:func:`_acdc_ablation`).

Metric.  Categorical outputs: ACDC's KL divergence over the output values and EAP's
logit difference (answer - wrong answer); numerical outputs (one logit, the value):
ACDC's MSE and EAP's answer value.

Compatibility shim (auto-circuit 1.0.1 on TransformerLens >= 3).  auto-circuit 1.0.1
imports ``transformer_lens.past_key_value_caching.HookedTransformerKeyValueCache`` and
``transformer_lens.HookedTransformerKeyValueCache`` (TransformerLens 2.x names), which
TransformerLens 3.x renamed to ``transformer_lens.cache.key_value_cache.
TransformerLensKeyValueCache``.  auto-circuit uses the class only for KV-caching a
common prompt prefix, which raspc never asks for (``diverge_idx=0``), so
:func:`_install_tl2_names` registers the old names as aliases of the new class, only
when the old import fails, before importing auto-circuit.  On TransformerLens 2.x it
does nothing.  auto-circuit also imports ``attrs`` without declaring it (the
``hooked`` extra lists it).

Needs the ``hooked`` extra (torch, transformer-lens>=2.16.1,<4, auto-circuit, attrs);
imported lazily.
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import sys
import types
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from rasp.errors import RaspcValueError

if TYPE_CHECKING:
    from transformer_lens import HookedTransformer

    from models.prompts import PromptSet

__all__ = [
    "ABLATIONS",
    "TRACR_REVERSE_TO_RASPC",
    "acdc_scores",
    "eap_scores",
    "official_tracr_reverse_edges",
    "patchable",
    "prompt_dataloader",
    "roc_auc",
    "translate_edges",
]

ABLATIONS = ("resample", "zero", "mean")
"""The ablations :func:`acdc_scores` and :func:`eap_scores` accept."""

TRACR_REVERSE_TO_RASPC: dict[str, str] = {
    "Resid Start": "Resid Start",
    "Resid End": "Resid End",
    "A0.0": "A0.0",
    "MLP 0": "MLP 0",
    "MLP 1": "MLP 1",
    "MLP 2": "MLP 1",
    "A3.0": "A2.0",
}
"""auto-circuit's ``tracr-reverse`` nodes -> raspc's compiled reverse.

Tracr compiles reverse to 4 layers: A0.0 and MLP 0 compute ``length`` (selector
width), MLP 1 ``length - indices``, MLP 2 ``- 1`` and A3.0 the flip (layers 1-2 have
empty attention, layer 3 an empty MLP).  raspc computes ``length - 1 - indices`` in
one SequenceMap, so its reverse has 3 layers: A0.0 / MLP 0 as Tracr's, Tracr's MLP 1
and MLP 2 fused into MLP 1 (Tracr's ``MLP 1->MLP 2`` is inside it) and the flip in
A2.0.  Q/K/V suffixes carry over."""


def _install_tl2_names() -> None:
    """Alias TransformerLens 2.x's KV-cache names to 3.x's class (see module docstring)."""
    try:
        importlib.import_module("transformer_lens.past_key_value_caching")
        return  # TransformerLens 2.x: nothing to do
    except ImportError:
        pass
    import transformer_lens
    from transformer_lens.cache.key_value_cache import TransformerLensKeyValueCache

    alias = types.ModuleType("transformer_lens.past_key_value_caching")
    alias.__doc__ = "raspc alias for auto-circuit 1.0.1 (TransformerLens 2.x name)"
    alias.HookedTransformerKeyValueCache = TransformerLensKeyValueCache  # type: ignore[attr-defined]
    sys.modules[alias.__name__] = alias
    if not hasattr(transformer_lens, "HookedTransformerKeyValueCache"):
        transformer_lens.HookedTransformerKeyValueCache = TransformerLensKeyValueCache


def _require_auto_circuit() -> types.SimpleNamespace:
    """auto-circuit's pieces raspc uses, imported on first use."""
    try:
        import torch  # noqa: F401
        import transformer_lens  # noqa: F401

        _install_tl2_names()
        from auto_circuit.data import PromptDataLoader, PromptDataset
        from auto_circuit.prune_algos import ACDC
        from auto_circuit.prune_algos.edge_attribution_patching import (
            edge_attribution_patching_prune_scores,
        )
        from auto_circuit.prune_algos.mask_gradient import mask_gradient_prune_scores
        from auto_circuit.types import AblationType
        from auto_circuit.utils import ablation_activations
        from auto_circuit.utils.graph_utils import patchable_model
    except ImportError as err:
        raise RaspcValueError(
            f"auto-circuit methods need torch, transformer-lens 2.x/3.x and auto-circuit "
            f"({err}); install them with: pip install 'raspc[hooked]'"
        ) from err
    return types.SimpleNamespace(
        PromptDataLoader=PromptDataLoader,
        PromptDataset=PromptDataset,
        ACDC=ACDC,
        eap=edge_attribution_patching_prune_scores,
        mask_gradient=mask_gradient_prune_scores,
        AblationType=AblationType,
        ablation_activations=ablation_activations,
        patchable_model=patchable_model,
    )


def _check_ablation(ablation: str) -> None:
    if ablation not in ABLATIONS:
        raise RaspcValueError(
            f"unknown ablation {ablation!r}; expected one of {', '.join(ABLATIONS)}"
        )


def patchable(hooked: HookedTransformer) -> Any:
    """auto-circuit's ``PatchableModel`` of a copy of ``hooked`` (``hooked`` itself is left
    alone: auto-circuit wraps modules in place and refuses to wrap twice)."""
    ac = _require_auto_circuit()
    model = copy.deepcopy(hooked)
    for param in model.parameters():
        param.requires_grad = False
    return ac.patchable_model(
        model,
        factorized=True,
        slice_output="not_first_seq",
        seq_len=None,
        separate_qkv=True,
        device=next(model.parameters()).device,
    )


def _numerical(model: Any) -> bool:
    return model.layout.output_node.encoding == "numerical"


def _answer_indices(model: Any, prompts: PromptSet) -> tuple[np.ndarray, np.ndarray]:
    """``(answers, wrong) int [N, T-1, 1]``: per position after BOS, the logit index of the
    clean value and of the corrupt value (equal where there is no contrast)."""
    n, width = prompts.clean.shape
    answers = np.zeros((n, width - 1, 1), dtype=np.int64)
    wrong = np.zeros_like(answers)
    if _numerical(model):
        return answers, wrong  # one logit, the value itself
    index = {v: i for i, v in enumerate(model.layout.output_node.values)}
    for row, (clean, corrupt) in enumerate(zip(prompts.answers, prompts.corrupt_answers)):
        for pos, value in enumerate(clean):
            if value is None or value not in index:
                continue
            answers[row, pos, 0] = wrong[row, pos, 0] = index[value]
            other = corrupt[pos] if pos < len(corrupt) else None
            if other is not None and other in index:
                wrong[row, pos, 0] = index[other]
    return answers, wrong


def prompt_dataloader(
    model: Any, prompts: PromptSet, *, batch_size: int | None = None, device: Any = "cpu"
) -> Any:
    """auto-circuit's ``PromptDataLoader`` over ``prompts`` (one batch of all prompts by
    default: auto-circuit's ACDC reads only the first batch, and it drops a last
    partial batch)."""
    ac = _require_auto_circuit()
    import torch

    if len(prompts) == 0:
        raise RaspcValueError("the prompt set is empty; build one with models.prompts.prompt_set")
    size = len(prompts) if batch_size is None else batch_size
    if not 1 <= size <= len(prompts):
        raise RaspcValueError(
            f"batch_size must be between 1 and the {len(prompts)} prompts, found {size}"
        )
    answers, wrong = _answer_indices(model, prompts)
    as_long = lambda a: torch.as_tensor(np.asarray(a, dtype=np.int64), device=device)
    dataset = ac.PromptDataset(
        as_long(prompts.clean), as_long(prompts.corrupt), as_long(answers), as_long(wrong)
    )
    return ac.PromptDataLoader(dataset, seq_len=None, diverge_idx=0, batch_size=size)


def _named_scores(patch_model: Any, prune_scores: Mapping[str, Any], *, absolute: bool):
    """auto-circuit's per-module score tensors -> ``{edge name: float}``."""
    out = {}
    for edge in patch_model.edges:
        value = float(edge.prune_score(prune_scores))
        out[edge.name] = abs(value) if absolute else value
    return dict(sorted(out.items()))


@contextlib.contextmanager
def _acdc_ablation(ac: Any, ablation: str, loader: Any) -> Iterator[None]:
    """Make auto-circuit's ACDC patch with ``ablation`` instead of the corrupt batch.

    auto-circuit 1.0.1's ``acdc_prune_scores`` calls ``src_ablations(model, corrupt)``
    (what to patch in) and ``src_ablations(model, clean)`` (the clean values) through its
    module's ``src_ablations`` name.  For the duration of the block that name answers
    the corrupt-batch call with zero or mean activations and every other call as before.
    Not thread-safe (it rebinds a module attribute)."""
    if ablation == "resample":
        yield
        return
    import torch

    original = ac.ACDC.src_ablations
    corrupt = next(iter(loader)).corrupt
    kind = (
        ac.AblationType.ZERO
        if ablation == "zero"
        else ac.AblationType.TOKENWISE_MEAN_CLEAN_AND_CORRUPT
    )

    def src_ablations(model: Any, sample: Any, ablation_type: Any = None) -> Any:
        if isinstance(sample, torch.Tensor) and torch.equal(sample, corrupt):
            return original(model, sample if ablation == "zero" else loader, kind)
        return (
            original(model, sample)
            if ablation_type is None
            else original(model, sample, ablation_type)
        )

    ac.ACDC.src_ablations = src_ablations
    try:
        yield
    finally:
        ac.ACDC.src_ablations = original


def acdc_scores(
    hooked: HookedTransformer,
    model: Any,
    prompts: PromptSet,
    *,
    ablation: str = "resample",
    tao_exps: tuple[int, ...] = (-5, -4, -3, -2),
    tao_bases: tuple[int, ...] = (1, 3, 5, 7, 9),
) -> dict[str, float]:
    """auto-circuit's ACDC score of every edge: the smallest threshold tau at which ACDC
    pruned it (``inf``: kept at every tau), over auto-circuit's default tau grid
    ``base * 10**exp``.  KL divergence for categorical outputs, MSE for numerical ones;
    only the first batch of the loader is used, so all prompts form one batch."""
    _check_ablation(ablation)
    ac = _require_auto_circuit()
    patch_model = patchable(hooked)
    loader = prompt_dataloader(model, prompts, device=next(patch_model.parameters()).device)
    with _acdc_ablation(ac, ablation, loader), _quiet():
        scores = ac.ACDC.acdc_prune_scores(
            patch_model,
            loader,
            None,
            tao_exps=list(tao_exps),
            tao_bases=list(tao_bases),
            faithfulness_target="mse" if _numerical(model) else "kl_div",
        )
    return _named_scores(patch_model, scores, absolute=False)


def eap_scores(
    hooked: HookedTransformer,
    model: Any,
    prompts: PromptSet,
    *,
    ablation: str = "resample",
) -> dict[str, float]:
    """auto-circuit's edge attribution patching: ``|gradient of the logit difference
    (numerical outputs: of the value) at the edge's destination . (ablated - clean source
    activation)|`` summed over positions and prompts."""
    _check_ablation(ablation)
    ac = _require_auto_circuit()
    patch_model = patchable(hooked)
    loader = prompt_dataloader(model, prompts, device=next(patch_model.parameters()).device)
    with _quiet():
        if ablation == "resample":
            scores = ac.eap(patch_model, loader, None, answer_diff=not _numerical(model))
        else:
            kind = (
                ac.AblationType.ZERO
                if ablation == "zero"
                else ac.AblationType.TOKENWISE_MEAN_CLEAN_AND_CORRUPT
            )
            scores = ac.mask_gradient(
                patch_model,
                loader,
                None,
                grad_function="logit",
                answer_function="avg_val" if _numerical(model) else "avg_diff",
                mask_val=0.0,
                ablation_type=kind,
                clean_corrupt=None,
            )
    return _named_scores(patch_model, scores, absolute=True)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """auto-circuit draws tqdm bars on stderr for every tau and edge; keep them out of
    tests and tables."""
    import io

    with contextlib.redirect_stderr(io.StringIO()):
        yield


def official_tracr_reverse_edges() -> dict[str, set[str]]:
    """auto-circuit's own ground truth for ``tracr-reverse``, in its (Tracr) layout:
    ``{"acdc": edges zero ablation needs (Conmy et al.), "true": edges resample ablation
    needs (Miller et al.)}``.

    auto-circuit's functions pick those edges out of a patchable model named
    ``tracr-reverse``; the weights do not matter, so a blank 4-layer, 1-head
    ``HookedTransformer`` with Tracr reverse's shape stands in for the Tracr model."""
    ac = _require_auto_circuit()
    from auto_circuit.metrics.official_circuits.circuits.tracr import reverse_official
    from transformer_lens import HookedTransformer, HookedTransformerConfig

    cfg = HookedTransformerConfig(
        n_layers=4,
        d_model=8,
        d_head=2,
        n_heads=1,
        d_mlp=4,
        d_vocab=5,
        d_vocab_out=3,
        n_ctx=6,
        act_fn="relu",
        normalization_type=None,
        attention_dir="bidirectional",
        use_attn_result=True,
        use_split_qkv_input=True,
        use_hook_mlp_in=True,
        model_name="tracr-reverse",
        device="cpu",
        seed=0,
    )
    tracr_shaped = ac.patchable_model(
        HookedTransformer(cfg, move_to_device=False),
        factorized=True,
        slice_output="not_first_seq",
        seq_len=None,
        separate_qkv=True,
    )
    return {
        "acdc": {e.name for e in reverse_official.tracr_reverse_acdc_edges(tracr_shaped)},
        "true": {e.name for e in reverse_official.tracr_reverse_true_edges(tracr_shaped)},
    }


def _translate_node(name: str, nodes: Mapping[str, str]) -> str:
    """``A3.0.V`` -> ``A2.0.V`` (the role suffix carries over), ``MLP 2`` -> ``MLP 1``."""
    parts = name.split(".")
    base, role = (".".join(parts[:2]), parts[2]) if len(parts) == 3 else (name, "")
    if base not in nodes:
        raise RaspcValueError(
            f"no raspc node for auto-circuit node {name!r}; the map covers {sorted(nodes)}"
        )
    return nodes[base] + (f".{role}" if role else "")


def translate_edges(names: set[str], nodes: Mapping[str, str]) -> set[str]:
    """auto-circuit edge names in one layout -> another, by a node map such as
    :data:`TRACR_REVERSE_TO_RASPC`; an edge whose two ends land on one fused node
    (Tracr's ``MLP 1->MLP 2``) is internal to it and dropped."""
    out = set()
    for name in names:
        src, dst = name.split("->")
        new_src, new_dst = _translate_node(src, nodes), _translate_node(dst, nodes)
        if new_src != new_dst:
            out.add(f"{new_src}->{new_dst}")
    return out


def roc_auc(scores: Mapping[str, float], truth: set[str]) -> float:
    """ROC AUC of ``scores`` (higher = in the circuit) at telling ``truth`` from the other
    scored edges (:func:`models.circuit_bench.roc_auc`), strictly: an unscored true edge
    or an empty class is an error here, not NaN."""
    unknown = truth - set(scores)
    if unknown:
        raise RaspcValueError(
            f"ground-truth edges {sorted(unknown)} have no score; score every edge of the graph"
        )
    from models.circuit_bench import roc_auc as bench_roc_auc  # the one definition

    found = len(truth & set(scores))
    if not found or found == len(scores):
        raise RaspcValueError(
            f"ROC AUC needs true and false edges, found {found} true and "
            f"{len(scores) - found} false"
        )
    return bench_roc_auc(scores, truth)
