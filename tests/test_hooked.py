"""``to_hooked_transformer``: a TransformerLens 2.x/3.x ``HookedTransformer`` that computes
exactly what the compiled model computes, on every library program.

In an environment whose TransformerLens has no ``HookedTransformer`` (TL 4, the main
``.venv``) the export must refuse with a one-line error naming the extra; the exactness
tests run in the second environment that ``make test-tl3`` builds (TL 3.9).
"""

from __future__ import annotations

import numpy as np
import pytest

import compiler
from models.cache import run_with_cache
from models.verification import input_space
from rasp import lib
from rasp.errors import RaspcError

torch = pytest.importorskip("torch")
transformer_lens = pytest.importorskip("transformer_lens")

from models.hooked import has_hooked_transformer, hooked_config, to_hooked_transformer  # noqa: E402
from models.tl_export import tl_inputs  # noqa: E402

HAS_HOOKED = has_hooked_transformer()
ATOL = 1e-4
CAUSAL = ("frac_prevs", "dyck1_prefix", "induction", "detect_pattern", "running_count")


def _model(name: str, causal: bool = False):
    e = lib.LIBRARY[name]
    return compiler.compile_rasp_to_model(
        e.build(e.max_seq_len), set(e.vocab), e.max_seq_len, causal=causal
    )


def _batch(model, name: str, n: int = 24) -> list[list]:
    e = lib.LIBRARY[name]
    inputs = input_space(sorted(e.vocab, key=repr), e.max_seq_len, samples=n)
    return [[model.input_encoder.bos_token, *x] for x in inputs[:n]]


def _worst(model, hooked, batch) -> float:
    """Max |difference|, relative to each activation's scale, of logits and residual,
    pattern, head and MLP activations at the real (non-PAD) positions of a mixed-length
    batch."""
    ids, mask = tl_inputs(model, batch)
    logits, cache = run_with_cache(model, batch)
    with torch.no_grad():
        tl_logits, tl_cache = hooked.run_with_cache(ids)  # no attention_mask: as tools call it
    valid = mask.numpy().astype(bool)
    worst = float(np.abs(tl_logits.numpy() - logits)[valid].max())
    k = model.model_config.key_size
    for layer in range(model.model_config.num_layers):
        for hook in (
            "hook_resid_mid",
            "hook_resid_post",
            "attn.hook_result",
            "mlp.hook_post",
            "attn.hook_pattern",
            "attn.hook_q",
            "attn.hook_v",
        ):
            name = f"blocks.{layer}.{hook}"
            ours, theirs = cache[name], tl_cache[name].numpy()
            if hook in ("attn.hook_q", "attn.hook_v"):
                theirs = theirs[..., :k]  # the last dimension is the PAD mask
            diff = np.abs(ours - theirs) / max(1.0, float(np.abs(ours).max()))  # relative
            if hook == "attn.hook_pattern":
                diff = diff.transpose(0, 2, 1, 3)
            worst = max(worst, float(diff[valid].max()))
    return worst


if not HAS_HOOKED:

    def test_missing_hooked_transformer_names_the_extra(reverse):
        with pytest.raises(RaspcError, match=r"raspc\[hooked\]"):
            to_hooked_transformer(reverse)

else:

    @pytest.mark.parametrize("name", sorted(lib.LIBRARY))
    def test_library_program_is_exact_on_padded_batches(name):
        model = _model(name)
        hooked = to_hooked_transformer(model)
        batch = _batch(model, name)
        assert len({len(b) for b in batch}) > 1  # mixed lengths: PAD must be masked
        assert _worst(model, hooked, batch) < ATOL
        ids, _ = tl_inputs(model, batch)
        with torch.no_grad():
            logits = hooked(ids).numpy()
        expected = model.run_batch([b[1:] for b in batch])
        if model.layout.output_node.encoding == "categorical":
            values = model.layout.output_node.values
            for row, want in enumerate(expected):
                got = [values[i] for i in logits[row, 1 : len(want) + 1].argmax(-1)]
                assert [g for g, w in zip(got, want) if w is not None] == [
                    w for w in want if w is not None
                ]
        else:
            for row, want in enumerate(expected):
                np.testing.assert_allclose(logits[row, 1 : len(want) + 1, 0], want, atol=1e-4)

    @pytest.mark.parametrize("name", CAUSAL)
    def test_causal_export_is_exact(name):
        model = _model(name, causal=True)
        hooked = to_hooked_transformer(model)
        assert hooked.cfg.attention_dir == "causal"
        assert hooked.cfg.d_head == model.model_config.key_size  # no PAD dimension needed
        assert _worst(model, hooked, _batch(model, name)) < ATOL

    def test_config_has_the_hooks_edge_tools_need(reverse):
        cfg = hooked_config(reverse, model_name="tracr-reverse")
        assert (cfg.use_split_qkv_input, cfg.use_attn_result, cfg.use_hook_mlp_in) == (
            True,
            True,
            True,
        )
        assert cfg.normalization_type is None and cfg.act_fn == "relu"
        assert cfg.model_name == "tracr-reverse"
        assert cfg.d_head == reverse.model_config.key_size + 1
        assert cfg.attn_scale == pytest.approx(np.sqrt(reverse.model_config.key_size))
        hooked = to_hooked_transformer(reverse)
        _, cache = hooked.run_with_cache(tl_inputs(reverse, [["compiler_bos", "a", "b"]])[0])
        assert "blocks.0.hook_q_input" in cache and "blocks.0.hook_mlp_in" in cache
