"""Both ways into TransformerLens give our logits and activations: our exporter, and
TransformerLens's own Tracr adapter on our model unchanged."""

from __future__ import annotations

import numpy as np
import pytest

import rasp
from models.cache import run_with_cache

torch = pytest.importorskip("torch")
pytest.importorskip("transformer_lens")

from models.tl_export import (  # noqa: E402
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
