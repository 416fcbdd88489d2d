"""run_with_cache: TransformerLens names and shapes, consistent activations, and decoding
of any residual activation into node values."""

from __future__ import annotations

import numpy as np
import pytest

import rasp
from models.cache import hook_names, run_with_cache, token_ids, unembed_matrix
from models.decode import decode_residual, decode_stream

BOS = "compiler_bos"


def test_names_and_shapes_follow_transformer_lens(reverse):
    cfg = reverse.model_config
    logits, cache = run_with_cache(reverse, [BOS, "a", "b", "c"])
    assert list(cache) == hook_names(cfg.num_layers)
    b, t, d, h, k, m = 1, 4, cfg.d_model, cfg.num_heads, cfg.key_size, cfg.mlp_hidden_size
    assert logits.shape == (b, t, 3)
    for name, array in cache.items():
        hook = name.rsplit(".", 1)[-1]
        want = {
            "hook_attn_scores": (b, h, t, t),
            "hook_pattern": (b, h, t, t),
            "hook_q": (b, t, h, k),
            "hook_k": (b, t, h, k),
            "hook_v": (b, t, h, k),
            "hook_z": (b, t, h, k),
            "hook_result": (b, t, h, d),
            "hook_pre": (b, t, m),
            "hook_post": (b, t, m),
        }.get(hook, (b, t, d))
        assert array.shape == want, name


def test_activations_add_up(reverse):
    _, cache = run_with_cache(reverse, [BOS, "c", "a", "b"])
    for layer in range(reverse.model_config.num_layers):
        p = f"blocks.{layer}"
        result = cache[f"{p}.attn.hook_result"].sum(axis=2)
        np.testing.assert_allclose(result, cache[f"{p}.hook_attn_out"], atol=1e-5)
        mid = cache[f"{p}.hook_resid_pre"] + cache[f"{p}.hook_attn_out"]
        np.testing.assert_allclose(mid, cache[f"{p}.hook_resid_mid"], atol=1e-5)
        post = cache[f"{p}.hook_resid_mid"] + cache[f"{p}.hook_mlp_out"]
        np.testing.assert_allclose(post, cache[f"{p}.hook_resid_post"], atol=1e-5)
        np.testing.assert_array_equal(
            np.maximum(cache[f"{p}.mlp.hook_pre"], 0), cache[f"{p}.mlp.hook_post"]
        )
        np.testing.assert_allclose(cache[f"{p}.attn.hook_pattern"].sum(-1), 1.0, atol=1e-6)
    embed = cache["hook_embed"] + cache["hook_pos_embed"]
    np.testing.assert_array_equal(embed, cache["blocks.0.hook_resid_pre"])


def test_logits_are_the_output_read_out(reverse, frac):
    logits, _ = run_with_cache(reverse, [BOS, "a", "b", "b"])
    values = reverse.layout.output_node.values
    assert [values[i] for i in logits[0, 1:].argmax(-1)] == ["b", "b", "a"]
    logits, _ = run_with_cache(frac, [BOS, "a", "b", "a"])
    assert unembed_matrix(frac.layout).shape == (frac.model_config.d_model, 1)
    np.testing.assert_allclose(logits[0, 1:, 0], [1.0, 0.5, 2 / 3], atol=1e-5)


def test_decode_any_residual_activation(reverse):
    xs = ["a", "b", "c", "c"]
    _, cache = run_with_cache(reverse, [BOS, *xs])
    expected = rasp.evaluate_all(reverse.program, xs)
    layout = reverse.layout
    for layer in range(reverse.model_config.num_layers):
        stages = ((2 * layer, "resid_mid", "attn_out"), (2 * layer + 1, "resid_post", "mlp_out"))
        for sub, stream, delta in stages:
            decoded = cache.decode(f"blocks.{layer}.hook_{stream}")
            assert set(decoded) == {n for n, node in layout.nodes.items() if node.ready <= sub}
            for label, values in decoded.items():
                assert values == expected[label], (stream, label)
            new = cache.decode(f"blocks.{layer}.hook_{delta}")
            assert set(new) == {n for n, node in layout.nodes.items() if node.ready == sub}
    assert cache.decode("blocks.0.hook_resid_pre") == {
        "indices": [0, 1, 2, 3],
        "tokens": xs,
    }
    assert cache.decode("hook_embed") == {"tokens": xs}
    assert cache.decode("hook_pos_embed") == {"indices": [0, 1, 2, 3]}
    layer = layout.nodes["reverse"].components[0].layer
    assert cache.decode(f"blocks.{layer}.attn.hook_result", head=0) == {"reverse": xs[::-1]}
    for label in layout.nodes:
        assert cache.decode_node(label) == expected[label]
    # the older model-level helper agrees with the layout-level one
    stream = cache["blocks.1.hook_resid_post"][0]
    assert decode_residual(reverse, stream, 3) == decode_stream(layout, stream, 3)
    with pytest.raises(rasp.RaspcValueError, match="needs head"):
        cache.decode(f"blocks.{layer}.attn.hook_result")
    with pytest.raises(rasp.RaspcValueError, match="not a residual-stream hook"):
        cache.decode(f"blocks.{layer}.attn.hook_pattern")
    with pytest.raises(KeyError, match="no activation"):
        cache["blocks.9.hook_resid_post"]
    with pytest.raises(rasp.RaspcValueError, match="no node"):
        cache.decode_node("nope")


def test_padded_batches_match_single_runs(frac):
    batch = [[BOS, "a"], [BOS, "b", "a", "a", "b"]]
    logits, cache = run_with_cache(frac, batch)
    assert cache.lengths() == [1, 4]
    for row, tokens in enumerate(batch):
        alone, single = run_with_cache(frac, tokens)
        n = len(tokens)
        np.testing.assert_allclose(logits[row, :n], alone[0], atol=1e-6)
        assert cache.decode("blocks.1.hook_resid_post", row) == single.decode(
            "blocks.1.hook_resid_post"
        )
    scores = cache["blocks.0.attn.hook_attn_scores"]
    assert np.isneginf(scores[0, :, :, 2:]).all()  # PAD keys and (causal) later keys
    assert np.isneginf(scores[1, :, 0, 1:]).all()


def test_token_ids_accepts_tokens_batches_and_ids(reverse):
    enc = reverse.input_encoder
    single = token_ids(reverse, [BOS, "a", "b"])
    assert single.shape == (1, 3)
    np.testing.assert_array_equal(token_ids(reverse, single[0]), single)
    batch = token_ids(reverse, [[BOS, "a"], [BOS, "a", "b", "c"]])
    assert batch.shape == (2, 4) and (batch[0, 2:] == enc.pad_id).all()
    with pytest.raises(rasp.RaspcValueError, match="BOS token"):
        token_ids(reverse, ["a", "b"])
    with pytest.raises(rasp.RaspcValueError, match="integer array"):
        token_ids(reverse, np.zeros((2, 2, 2), dtype=np.int32))
    with pytest.raises(rasp.RaspcValueError, match="not in the vocabulary"):
        token_ids(reverse, [BOS, "z"])
