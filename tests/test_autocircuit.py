"""auto-circuit's own ACDC and EAP on raspc models, and its official Tracr-reverse edges
translated to raspc's layers.

Runs in the TransformerLens 3.x environment (``make test-tl3``); in an environment
without auto-circuit the adapter must refuse with a one-line error naming the extra.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

import compiler
from compiler.circuit import circuit_map
from compiler.edges import all_edges, edge_set
from models import autocircuit
from models.prompts import prompt_set
from rasp import lib
from rasp.errors import RaspcError
from tests.test_edges import ACDC_REVERSE_TRANSLATED

try:
    autocircuit._require_auto_circuit()
    HAS_AUTO_CIRCUIT = True
except RaspcError:
    HAS_AUTO_CIRCUIT = False

# auto-circuit 1.0.1's tracr_reverse_acdc_edges (Conmy et al. 2023; the edges zero
# ablation needs) in raspc's layers (autocircuit.TRACR_REVERSE_TO_RASPC): the set
# tests/test_edges.py holds, here checked against auto-circuit's own live copy.
ACDC_REVERSE_IN_RASPC = ACDC_REVERSE_TRANSLATED
# tracr_reverse_true_edges (Miller et al.; the edges resample ablation on fixed-length
# prompts needs)
TRUE_REVERSE_IN_RASPC = {"Resid Start->A2.0.V", "A2.0->Resid End"}

# measured on reverse at max_seq_len 3, 32 prompts, seed 0, 10-value tau grid: ACDC 0.875,
# EAP 0.583 (resample; deterministic on CPU); the bounds sit below
ACDC_AUC_BOUND = 0.8
EAP_AUC_BOUND = 0.55
TAUS = {"tao_exps": (-3, -2), "tao_bases": (1, 3, 5, 7, 9)}


def _compiled(name: str, max_seq_len: int | None = None):
    e = lib.LIBRARY[name]
    n = max_seq_len or e.max_seq_len
    program = e.build(n)
    values = compiler.compile_rasp(program, set(e.vocab), n).values
    model = compiler.compile_rasp_to_model(program, set(e.vocab), n)
    return model, edge_set(circuit_map(model), model.params, values=values)


if not HAS_AUTO_CIRCUIT:

    def test_missing_auto_circuit_names_the_extra():
        with pytest.raises(RaspcError, match=r"raspc\[hooked\]"):
            autocircuit._require_auto_circuit()

else:
    import torch

    from models.hooked import to_hooked_transformer

    @pytest.fixture(scope="module")
    def one_thread():
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # tiny models: threads only add overhead
        yield
        torch.set_num_threads(threads)

    @pytest.fixture(scope="module")
    def small_reverse(one_thread):
        model, edges = _compiled("reverse", 3)
        return model, edges, to_hooked_transformer(model), prompt_set(model, 32, seed=0)

    @pytest.fixture(scope="module")
    def reverse_scores(small_reverse):
        model, _, hooked, prompts = small_reverse
        return {
            "acdc": autocircuit.acdc_scores(hooked, model, prompts, **TAUS),
            "eap": autocircuit.eap_scores(hooked, model, prompts),
        }

    def test_shim_aliases_the_tl2_kv_cache_name():
        from transformer_lens.cache.key_value_cache import TransformerLensKeyValueCache

        alias = sys.modules["transformer_lens.past_key_value_caching"]
        assert alias.HookedTransformerKeyValueCache is TransformerLensKeyValueCache

    def test_official_reverse_edges_translate_into_raspcs_edge_set():
        official = autocircuit.official_tracr_reverse_edges()
        assert "MLP 1->MLP 2" in official["acdc"] and len(official["acdc"]) == 10
        nodes = autocircuit.TRACR_REVERSE_TO_RASPC
        assert autocircuit.translate_edges(official["acdc"], nodes) == ACDC_REVERSE_IN_RASPC
        assert autocircuit.translate_edges(official["true"], nodes) == TRUE_REVERSE_IN_RASPC
        _, edges = _compiled("reverse")
        assert edges.names() >= ACDC_REVERSE_IN_RASPC
        # the resample-ablation edges carry tokens, not constants
        assert edges.names(bias=False) >= TRUE_REVERSE_IN_RASPC

    def test_translation_refuses_an_unmapped_node():
        with pytest.raises(RaspcError, match="no raspc node"):
            autocircuit.translate_edges({"A1.0->Resid End"}, autocircuit.TRACR_REVERSE_TO_RASPC)

    def test_methods_score_every_edge_of_the_graph(small_reverse, reverse_scores):
        _, edges, hooked, _ = small_reverse
        graph = set(all_edges(edges.num_layers, edges.num_heads))
        for scores in reverse_scores.values():
            assert set(scores) == graph
            assert all(s >= 0 for s in scores.values())
        # the caller's model is left unwrapped (auto-circuit patches a copy)
        assert not any("PatchWrapper" in type(m).__name__ for m in hooked.modules())

    def test_auc_on_reverse_beats_the_measured_bound(small_reverse, reverse_scores):
        _, edges, _, _ = small_reverse
        assert autocircuit.roc_auc(reverse_scores["acdc"], edges.names()) > ACDC_AUC_BOUND
        assert autocircuit.roc_auc(reverse_scores["eap"], edges.names()) > EAP_AUC_BOUND
        # the reverse head's token edge is among ACDC's most important
        acdc = reverse_scores["acdc"]
        assert acdc["Resid Start->A2.0.V"] >= np.median(list(acdc.values()))

    def test_eap_sees_only_the_resample_true_edges(reverse_scores):
        # saturated attention and flat MLP pieces: the gradient is exactly zero on every
        # other circuit edge, so EAP finds auto-circuit's resample "true edges" only
        found = {e for e, s in reverse_scores["eap"].items() if s > 0}
        assert found == TRUE_REVERSE_IN_RASPC

    def test_acdc_zero_ablation_swaps_the_patch_and_restores_acdc(small_reverse):
        from auto_circuit.prune_algos import ACDC

        model, _, hooked, prompts = small_reverse
        original = ACDC.src_ablations
        one_tau = {"tao_exps": (-2,), "tao_bases": (1,)}
        zero = autocircuit.acdc_scores(hooked, model, prompts, ablation="zero", **one_tau)
        resample = autocircuit.acdc_scores(hooked, model, prompts, **one_tau)
        assert ACDC.src_ablations is original
        assert zero != resample

    def test_eap_zero_ablation_differs_from_resample(small_reverse, reverse_scores):
        model, edges, hooked, prompts = small_reverse
        zero = autocircuit.eap_scores(hooked, model, prompts, ablation="zero")
        assert set(zero) == set(reverse_scores["eap"]) and zero != reverse_scores["eap"]
        assert autocircuit.roc_auc(zero, edges.names()) > 0.5

    def test_dataloader_answers_are_logit_indices(small_reverse):
        model, _, _, prompts = small_reverse
        batch = next(iter(autocircuit.prompt_dataloader(model, prompts)))
        n, width = prompts.clean.shape
        assert batch.answers.shape == (n, width - 1, 1)
        values = model.layout.output_node.values
        got = [values[i] for i in batch.answers[0, : prompts.lengths[0], 0].tolist()]
        assert tuple(got) == prompts.answers[0]
        assert torch.equal(batch.clean, torch.as_tensor(prompts.clean, dtype=torch.long))

    def test_bad_ablation_is_refused(small_reverse):
        model, _, hooked, prompts = small_reverse
        with pytest.raises(RaspcError, match="unknown ablation"):
            autocircuit.eap_scores(hooked, model, prompts, ablation="mean-ish")


def test_roc_auc_counts_ties_half_and_handles_inf():
    scores = {"a": float("inf"), "b": 0.5, "c": 0.5, "d": 0.1}
    assert autocircuit.roc_auc(scores, {"a", "b"}) == pytest.approx((2 + 1.5) / 4)
    assert autocircuit.roc_auc(scores, {"d"}) == 0.0
    with pytest.raises(RaspcError, match="true and false"):
        autocircuit.roc_auc(scores, set(scores))
