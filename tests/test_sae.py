"""SAE ground truth (``models.sae``): feature directions per hook, indistinguishable groups,
the activation iterator, and ``score_sae`` on hand-made decoders whose right score is known:
the true directions (perfect), a split, a merge, random directions, and the groups that
fixed-length inputs make inseparable."""

from __future__ import annotations

import types

import numpy as np
import pytest

from models.cache import run_with_cache
from models.compression import CompressedModel
from models.sae import (
    SAEHookWarning,
    activation_batches,
    activation_matrix,
    ground_truth,
    sae_inputs,
    score_sae,
)
from rasp.errors import RaspcValueError

HOOK = "blocks.2.hook_resid_post"  # reverse: every node is in the stream


@pytest.fixture(scope="module")
def truth(reverse):
    return ground_truth(reverse, HOOK)


@pytest.fixture(scope="module")
def fixed(reverse):
    return ground_truth(reverse, HOOK, sae_inputs(reverse, lengths=[4]))


def _row(truth, name: str) -> int:
    return truth.names.index(name)


def test_features_are_the_residual_labels_written_by_the_hook(reverse, truth):
    assert truth.names == tuple(reverse.residual_labels)
    assert truth.d_in == reverse.model_config.d_model
    early = ground_truth(reverse, "blocks.0.hook_resid_pre")
    assert early.names == tuple(
        label
        for label in reverse.residual_labels
        if label.split(":")[0] in ("one", "tokens", "indices")
    )
    assert truth.feature("length#width_attn").role == "scratch"
    assert truth.feature("one").role == "bias" and truth.feature("one").status == "constant"
    assert truth.feature("tokens:compiler_bos").status == "dead"  # BOS positions left out
    assert truth.feature("sequence_map_1:-1").status == "dead"  # never computed
    assert truth.feature("length:1").status == "active"
    assert truth.groups == ()  # varied lengths separate everything


def test_fixed_lengths_make_index_and_opposite_index_indistinguishable(fixed):
    groups = {g.features for g in fixed.groups}
    assert groups == {(f"indices:{i}", f"sequence_map_1:{3 - i}") for i in range(4)}
    assert fixed.feature("length:4").status == "constant"
    assert fixed.feature("length:3").status == "dead"
    g = fixed.groups[0]
    a, b = (fixed.directions[_row(fixed, n)] for n in g.features)
    assert np.allclose(g.direction, (a + b) / np.sqrt(2))


def test_true_directions_score_perfectly(truth):
    score = score_sae(truth.directions, truth)
    assert score.mcc == pytest.approx(1.0) and score.mmcs == pytest.approx(1.0)
    assert score.mcc_identifiable == pytest.approx(1.0)
    assert set(score.recovered) == set(score.scored)
    assert len(score.scored) == 19
    assert score.split == score.merged == score.missed == ()
    assert score.merges == ()
    text = score.summary()
    assert "MCC 1.000" in text and "recovered 19/19" in text and "tokens:a" in text


def test_a_duplicated_latent_is_a_split(truth):
    i = _row(truth, "tokens:a")
    near = truth.directions[i] + 0.1 * truth.directions[_row(truth, "tokens:b")]
    score = score_sae(np.vstack([truth.directions, near]), truth)
    assert score.split == ("tokens:a",)
    assert score.feature("tokens:a").matching_latents == (i, len(truth.directions))
    assert "tokens:a" in score.recovered
    assert score.mcc == pytest.approx(1.0)


def test_one_latent_for_two_features_is_a_merge(truth):
    a, b = _row(truth, "tokens:a"), _row(truth, "tokens:b")
    decoder = np.delete(truth.directions, [a, b], axis=0)
    decoder = np.vstack([decoder, truth.directions[a] + truth.directions[b]])
    score = score_sae(decoder, truth)
    assert set(score.merged) == {"tokens:a", "tokens:b"}
    (merge,) = score.merges
    assert set(merge.features) == {"tokens:a", "tokens:b"} and not merge.indistinguishable
    assert merge.cosine == pytest.approx(1.0)
    assert score.feature("tokens:a").best_cosine == pytest.approx(np.sqrt(0.5))
    # one of the two is matched at 1/sqrt(2), the other goes unmatched
    assert score.mcc == pytest.approx((17 + np.sqrt(0.5)) / 19)
    assert len(score.recovered) == 17


def test_random_directions_score_low(truth):
    rng = np.random.default_rng(0)
    score = score_sae(rng.normal(size=(48, truth.d_in)), truth)
    assert score.mcc < 0.6 and score.mmcs < 0.7
    assert len(score.recovered) <= 1
    assert len(score.missed) + len(score.merged) >= 18


def test_indistinguishable_groups_cap_mcc_but_not_identifiable_mcc(fixed):
    grouped = {n for g in fixed.groups for n in g.features}
    rows = [
        fixed.directions[i]
        for i, f in enumerate(fixed.features)
        if f.scored and f.name not in grouped
    ]
    decoder = np.vstack([*rows, *(g.direction for g in fixed.groups)])
    score = score_sae(decoder, fixed)
    assert set(score.merged) == grouped
    assert len(score.merges) == 4 and all(m.indistinguishable for m in score.merges)
    assert score.mcc_identifiable == pytest.approx(1.0)
    assert score.mcc == pytest.approx((6 + 4 * np.sqrt(0.5)) / 14)
    assert "indistinguishable group" in score.summary()


def test_activations_skip_padding_and_bos(reverse):
    inputs = [["a"], ["b", "c", "a"], ["c", "c"]]
    batches = list(activation_batches(reverse, HOOK, inputs, batch_size=2))
    assert [len(b) for b in batches] == [4, 2]
    _, cache = run_with_cache(reverse, [["compiler_bos", *x] for x in inputs])
    stream = cache[HOOK]
    expected = np.concatenate([stream[r, 1 : len(x) + 1] for r, x in enumerate(inputs)])
    assert np.allclose(np.concatenate(batches), expected, atol=1e-5)
    with_bos = activation_matrix(reverse, HOOK, inputs, include_bos=True)
    assert len(with_bos) == 9
    assert (
        ground_truth(reverse, HOOK, inputs, include_bos=True).feature("tokens:compiler_bos").status
        == "active"
    )


def test_inputs_are_valid_varied_and_seeded(reverse):
    every = sae_inputs(reverse)
    assert every.exhaustive and len(every.inputs) == 3 + 9 + 27 + 81
    sample = sae_inputs(reverse, samples=50, seed=3)
    assert not sample.exhaustive and len(sample.inputs) == 50
    assert sample == sae_inputs(reverse, samples=50, seed=3)
    assert len({len(x) for x in sample.inputs}) > 1
    with pytest.raises(RaspcValueError, match="max_seq_len"):
        sae_inputs(reverse, lengths=[5])


def test_compressed_directions_are_the_write_rows(reverse):
    d = reverse.model_config.d_model
    rotation, _ = np.linalg.qr(np.random.default_rng(1).normal(size=(d, d)))
    small = CompressedModel(base=reverse, write=rotation)  # d = D: computes exactly
    truth = ground_truth(small, HOOK)
    assert truth.basis == "compressed"
    assert np.allclose(truth.directions, rotation)
    inputs = sae_inputs(reverse, samples=20)
    acts = activation_matrix(small, HOOK, inputs)
    full = activation_matrix(reverse, HOOK, inputs)
    assert np.allclose(acts, full @ rotation, atol=1e-4)
    assert score_sae(rotation, truth).mcc == pytest.approx(1.0)


def test_collinear_features_in_a_compressed_model_are_indistinguishable(reverse):
    d = reverse.model_config.d_model
    write = np.eye(d)[:, : d - 1]
    labels = list(reverse.residual_labels)
    b, c = labels.index("tokens:b"), labels.index("tokens:c")
    write = write.copy()
    write[c] = write[b]
    truth = ground_truth(small := CompressedModel(base=reverse, write=write), HOOK)
    assert small.d == d - 1
    assert ("tokens:b", "tokens:c") in {g.features for g in truth.groups}
    assert truth.feature(labels[-1]).status == "dropped"  # its column was cut


def test_sae_objects_and_bad_decoders(truth):
    sae = types.SimpleNamespace(
        W_dec=truth.directions.copy(),
        cfg=types.SimpleNamespace(metadata=types.SimpleNamespace(hook_name="blocks.0.hook_x")),
    )
    with pytest.warns(SAEHookWarning, match="blocks.0.hook_x"):
        assert score_sae(sae, truth).mcc == pytest.approx(1.0)
    with pytest.raises(RaspcValueError, match="transposed"):
        score_sae(np.ones((truth.d_in, 5)), truth)
    with pytest.raises(RaspcValueError, match="hook_resid_pre"):
        ground_truth(
            types.SimpleNamespace(model_config=types.SimpleNamespace(num_layers=3)),
            "blocks.0.attn.hook_pattern",
        )
