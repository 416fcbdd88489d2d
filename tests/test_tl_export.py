"""Both ways into TransformerLens give our logits and activations: our exporter, and
TransformerLens's own Tracr adapter on our model unchanged."""

from __future__ import annotations

import numpy as np
import pytest

import compiler
import rasp
from models.cache import run_with_cache
from models.verification import input_space
from rasp.lib import LIBRARY

torch = pytest.importorskip("torch")
pytest.importorskip("transformer_lens")

from models.tl_export import (  # noqa: E402
    decode_tl_logits,
    load_with_tracr_adapter,
    tl_inputs,
    to_transformer_lens,
    transformer_lens_config,
)

BOS = "compiler_bos"
ATOL = 1e-4
COMPARED = (
    "hook_embed",
    "hook_pos_embed",
    "blocks.{l}.hook_resid_pre",
    "blocks.{l}.attn.hook_q",
    "blocks.{l}.attn.hook_pattern",
    "blocks.{l}.attn.hook_z",
    "blocks.{l}.hook_attn_out",
    "blocks.{l}.hook_resid_mid",
    "blocks.{l}.mlp.hook_post",
    "blocks.{l}.hook_resid_post",
)


def _compare(model, bridge, batch) -> float:
    """Max |difference| of logits and the compared activations (valid positions only)."""
    ids, mask = tl_inputs(model, batch)
    logits, cache = run_with_cache(model, batch)
    with torch.no_grad():
        tl_logits, tl_cache = bridge.run_with_cache(ids, attention_mask=mask)
    valid = mask.numpy().astype(bool)  # [B, T]
    worst = float(np.abs(tl_logits.numpy() - logits)[valid].max())
    for template in COMPARED:
        for layer in range(model.model_config.num_layers):
            name = template.format(l=layer)
            ours, theirs = cache[name], tl_cache[name].numpy()
            assert ours.shape == theirs.shape, name
            if name.endswith("hook_pattern"):
                diff = np.abs(ours - theirs).transpose(0, 2, 1, 3)[valid]
            else:
                diff = np.abs(ours - theirs)[valid]
            worst = max(worst, float(diff.max()))
    return worst


def test_export_matches_categorical_bidirectional(reverse):
    bridge = to_transformer_lens(reverse)
    assert bridge.cfg.attention_dir == "bidirectional"
    assert bridge.cfg.normalization_type is None
    batch = [[BOS, "a", "b", "c"], [BOS, "c", "c"]]
    assert _compare(reverse, bridge, batch) < ATOL
    ids, _ = tl_inputs(reverse, [BOS, "a", "b", "c"])
    with torch.no_grad():
        predicted = bridge(ids)[0, 1:].argmax(-1).tolist()
    values = reverse.layout.output_node.values
    assert [values[i] for i in predicted] == ["c", "b", "a"]


def test_export_matches_numerical_causal(frac):
    cfg = transformer_lens_config(frac)
    assert (cfg.attention_dir, cfg.d_vocab_out, cfg.n_ctx) == ("causal", 1, 5)
    bridge = to_transformer_lens(frac)
    assert _compare(frac, bridge, [[BOS, "a", "b", "a", "a"], [BOS, "b"]]) < ATOL
    ids, _ = tl_inputs(frac, [BOS, "a", "b", "b", "a"])
    with torch.no_grad():
        out = bridge(ids)[0, 1:, 0].numpy()
    np.testing.assert_allclose(out, [1.0, 0.5, 1 / 3, 0.5], atol=ATOL)


def test_transformer_lens_tracr_adapter_loads_our_model_unchanged(reverse):
    """TransformerLens's own utilities for Tracr models, given our CompiledModel as is."""
    import transformer_lens.model_bridge.sources  # noqa: F401
    from transformer_lens.model_bridge import TransformerBridge
    from transformer_lens.utilities import tracr

    assert tracr.infer_tracr_output_label(reverse) == "reverse"
    cfg = tracr.make_tracr_transformer_bridge_config(reverse)
    state = tracr.make_tracr_transformer_bridge_state_dict(reverse)  # label inferred
    bridge = TransformerBridge.boot_native(cfg)
    result = bridge.load_state_dict(state, strict=False)
    assert not result.unexpected_keys
    batch = [[BOS, "b", "a", "c"], [BOS, "a"]]
    assert _compare(reverse, bridge, batch) < ATOL
    assert _compare(reverse, load_with_tracr_adapter(reverse), batch) < ATOL


def test_tracr_adapter_refuses_numerical_outputs(frac):
    from transformer_lens.utilities import tracr

    with pytest.raises(NotImplementedError):  # as for Tracr's numerical models
        tracr.make_tracr_transformer_bridge_config(frac)
    with pytest.raises(rasp.RaspcValueError, match="to_transformer_lens"):
        load_with_tracr_adapter(frac)


def _previous_token():
    """The token one position back: None at position 0 (nothing is selected there)."""
    prev = rasp.Select(rasp.indices, rasp.indices, lambda k, q: k == q - 1)
    return rasp.Aggregate(prev, rasp.tokens).named("prev")


def test_tl_logits_hid_none_behind_an_argmax():
    # A None position has every output logit ~0, and argmax named a real token there;
    # there was no helper decoding TL logits the way model.apply does.
    model = compiler.compile_rasp_to_model(_previous_token(), {"a", "b"}, 3)
    bridge = to_transformer_lens(model)
    ids, _ = tl_inputs(model, [BOS, "b", "a", "b"])
    with torch.no_grad():
        logits = bridge(ids)
    assert float(logits[0, 1].abs().max()) < 1e-3  # all ~0 where the value is None
    values = model.layout.output_node.values
    assert values[int(logits[0, 1].argmax())] in {"a", "b"}  # what a bare argmax says
    assert decode_tl_logits(model, logits[0]) == [BOS, None, "b", "a"]
    assert decode_tl_logits(model, logits) == [model.apply([BOS, "b", "a", "b"]).decoded]


def _agreement(model, inputs, same) -> None:
    """decode_tl_logits on the export's logits == what model.apply decodes, input by input
    (our forward pass run once on the whole padded batch, decoded by the output encoder
    as apply decodes it; apply itself on the longest input)."""
    batch = [[BOS, *xs] for xs in inputs]
    ids, mask = tl_inputs(model, batch)
    with torch.no_grad():
        logits = to_transformer_lens(model)(ids, attention_mask=mask)
    decoded = decode_tl_logits(model, logits, attention_mask=mask)
    _, cache = run_with_cache(model, batch)
    final = cache[f"blocks.{model.model_config.num_layers - 1}.hook_resid_post"]
    for row, (seq, got) in enumerate(zip(batch, decoded)):
        want = model.output_encoder.decode(final[row, : len(seq)])
        assert got[0] == BOS and len(got) == len(seq)
        assert same(got[1:], want[1:]), (seq, got, want)
    longest = max(range(len(batch)), key=lambda i: len(batch[i]))
    assert same(decoded[longest], model.apply(batch[longest]).decoded)


@pytest.mark.parametrize("name", sorted(LIBRARY))
def test_decode_tl_logits_agrees_with_apply_on_library_program(name, same):
    entry = LIBRARY[name]
    model = compiler.compile_rasp_to_model(
        entry.build(entry.max_seq_len), set(entry.vocab), entry.max_seq_len
    )
    inputs = input_space(
        sorted(entry.vocab, key=repr), entry.max_seq_len, exhaustive_limit=0, samples=24, seed=1
    )
    _agreement(model, inputs, same)


def test_decode_tl_logits_agrees_with_apply_on_causal_numerical(frac, same):
    _agreement(frac, input_space(["a", "b"], 4), same)


def test_decode_tl_logits_refuses_logits_of_another_shape(reverse):
    with pytest.raises(rasp.RaspcValueError, match="expected logits"):
        decode_tl_logits(reverse, np.zeros((2, 3, 99)))
    with pytest.raises(rasp.RaspcValueError, match="attention_mask"):
        decode_tl_logits(reverse, np.zeros((2, 3, 3)), attention_mask=np.ones((2, 4)))
