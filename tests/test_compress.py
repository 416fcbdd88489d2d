"""The compressed model: its forward (the transformer's, hooked), training, the one
definition of accuracy, settings, and save/load."""

from __future__ import annotations

import dataclasses
import json

import jax.numpy as jnp
import numpy as np
import pytest

import compiler
import models
import rasp
from models.compression import CompressedModel, CompressionSettings, layer_names
from models.transformer import make_forward
from rasp import lib

STEPS = 300


@pytest.fixture(scope="module")
def tiny():
    """A one-layer categorical program with a 7-dimensional residual stream."""
    program = rasp.Map(lambda x: x == "a", rasp.tokens).named("is_a")
    return compiler.compile_rasp_to_model(program, {"a", "b", "c"}, 3)


@pytest.fixture(scope="module")
def trained(tiny):
    return models.compress(tiny, 4, steps=STEPS, restarts=2, stop_at_accuracy=None, progress=False)


def identity(model, mode="stream", tied=True):
    d_full = model.model_config.d_model
    reads = 2 * model.model_config.num_layers + 1 if mode == "layer" and not tied else 1
    eye = np.eye(d_full)
    return CompressedModel(model, eye, np.broadcast_to(eye, (reads, d_full, d_full)), mode, tied)


@pytest.mark.parametrize(("mode", "tied"), [("stream", True), ("layer", False)])
def test_identity_projection_is_the_compiled_model(mode, tied):
    program = lib.make_sort_unique(rasp.tokens, rasp.tokens)
    model = compiler.compile_rasp_to_model(program, {1, 2, 3}, 3)
    same = identity(model, mode, tied)
    out, ref = same.apply(["compiler_bos", 3, 1, 2]), model.apply(["compiler_bos", 3, 1, 2])
    assert out.decoded == ref.decoded == ["compiler_bos", 1, 2, 3]
    np.testing.assert_allclose(out.residuals[-1], ref.residuals[-1], atol=1e-5)
    assert out.compressed[0].shape == (1, 4, model.model_config.d_model)
    assert same.run_batch([[2, 1], [3]]) == [[1, 2], [3]]
    assert models.verify(same).ok  # decoding and verification read it like a compiled model
    report = models.evaluate_compression(same)
    assert report.accuracy == 1.0 and report.exhaustive and report.checked == 3 + 9 + 27
    assert [f.name for f in report.layers] == layer_names(model.model_config)
    assert all(f.mse < 1e-9 for f in report.layers)
    assert all(f.cosine is None or f.cosine > 0.999 for f in report.layers)


def test_the_hook_squeezes_between_sublayers_of_the_one_forward_pass(tiny):
    """A hook that halves what each sub-layer reads, against the same math by hand."""
    cfg, pad = tiny.model_config, tiny.input_encoder.pad_id
    ids = jnp.asarray([tiny.input_encoder.encode(["compiler_bos", "a", "b"])])
    plain = make_forward(cfg, pad)(tiny.params, ids)
    same = make_forward(cfg, pad, lambda site, x: (x, x))(tiny.params, ids)
    np.testing.assert_array_equal(plain["output"], same["output"])
    sites = []

    def halve(site, x):
        sites.append(site)
        return x, x / 2

    half = make_forward(cfg, pad, halve)(tiny.params, ids)
    assert sites == list(range(2 * cfg.num_layers + 1))
    p = tiny.params
    x = plain["embeddings"]
    x = x + plain["layer_outputs"][0]  # attention of layer 0 is empty: writes zero
    hidden = jnp.maximum(
        0,
        (x / 2) @ p["transformer/layer_0/mlp/linear_1"]["w"]
        + p["transformer/layer_0/mlp/linear_1"]["b"],
    )
    x = (
        x
        + hidden @ p["transformer/layer_0/mlp/linear_2"]["w"]
        + p["transformer/layer_0/mlp/linear_2"]["b"]
    )
    np.testing.assert_allclose(half["output"], x / 2, atol=1e-5)


def test_numerical_outputs_snap_to_possible_values():
    program = lib.make_frac_prevs(rasp.tokens == "a")
    model = compiler.compile_rasp_to_model(program, {"a", "b"}, 3)
    values = tuple(sorted(model.compiled.values[model.layout.output], key=float))
    same = CompressedModel(model, np.eye(9) * 0.999, np.eye(9)[None], output_values=values)
    (decoded,) = same.run_batch([["a", "b", "a"]])
    assert decoded == [1, 0.5, pytest.approx(2 / 3)] and all(v in values for v in decoded)


def test_empty_layers_print_no_nan():
    program = lib.make_frac_prevs(rasp.tokens == "a")  # layer 0 attention and layer 1 MLP: empty
    model = compiler.compile_rasp_to_model(program, {"a", "b"}, 3)
    report = models.evaluate_compression(identity(model))
    assert report.accuracy == 1.0 and "nan" not in str(report)
    assert "all 14 valid inputs" in str(report)
    assert any(f.cosine is None for f in report.layers)


def test_training_lowers_the_loss_and_reaches_full_accuracy(tiny, trained):
    history = trained.history
    assert len(history.loss) == STEPS == len(history.output_loss) == len(history.layer_loss)
    assert history.checkpoints[-1]["loss"] < history.checkpoints[0]["loss"] * 1.01
    assert history.checkpoints[-1]["step"] == STEPS and history.seconds > 0
    assert history.restarts == 2 and len(history.checkpoints[0]["accuracies"]) == 2
    assert trained.write.shape == (7, 4) and trained.read.shape == (1, 4, 7)
    assert trained.d == 4 and trained.d_full == 7
    report = models.evaluate_compression(trained)
    assert report.accuracy == 1.0, report
    assert trained.apply(["compiler_bos", "a", "b"]).decoded == ["compiler_bos", True, False]
    assert "d_model 7 -> 4" in repr(trained)


def test_one_definition_of_accuracy():
    """The kept checkpoint's accuracy (what the progress bar and history show) is what
    evaluate_compression reports, on the same, stated inputs."""
    program = lib.make_frac_prevs(rasp.tokens == "x")
    model = compiler.compile_rasp_to_model(program, {"a", "x"}, 3)
    small = models.compress(model, 3, steps=200, restarts=2, progress=False)
    history = small.history
    kept = next(c for c in history.checkpoints if c["step"] == history.best_step)
    report = models.evaluate_compression(small)
    assert kept["accuracies"][history.best_restart] == pytest.approx(report.accuracy, abs=1e-6)
    assert history.measured_on == report.measured_on == "all 14 valid inputs"
    assert 0 < report.accuracy < 1  # d = 3 of 9 is too small here: a non-trivial number


def test_the_same_seed_gives_the_same_model(tiny, trained):
    again = models.compress(tiny, 4, steps=STEPS, restarts=2, stop_at_accuracy=None, progress=False)
    np.testing.assert_array_equal(again.write, trained.write)
    assert again.history.loss == trained.history.loss


def test_a_warm_start_squeezes_a_wider_solution(tiny, trained):
    """Restart 0 starts from ``trained`` itself: at the same width nothing fades, so
    it is exact at the first checkpoint and training stops there."""
    again = models.compress(
        tiny, 4, start=trained, steps=STEPS, restarts=2, eval_every=50, progress=False
    )
    history = again.history
    assert history.warm_from == 4 and history.best_init == "warm" and history.best_restart == 0
    assert history.best_step == 50 and history.stopped_early and len(history.loss) == 50
    assert models.evaluate_compression(again).accuracy == 1.0
    cold = models.compress(tiny, 3, steps=100, restarts=2, progress=False).history
    assert cold.warm_from is None and cold.best_init in ("importance", "random")
    with pytest.raises(rasp.RaspcValueError, match="at least as wide as d=5"):
        models.compress(tiny, 5, start=trained, steps=100, progress=False)
    with pytest.raises(rasp.RaspcValueError, match="compress the same model the same way"):
        models.compress(tiny, 3, start=trained, mode="layer", steps=100, progress=False)
    with pytest.raises(rasp.RaspcTypeError, match="start must be a CompressedModel"):
        models.compress(tiny, 3, start=trained.write, steps=100, progress=False)


def test_patience_counts_only_real_gains(tiny):
    """A plateau stops training: with min_delta above any possible gain, patience
    runs out ``patience`` checkpoints after annealing ends."""
    flat = models.compress(
        tiny,
        2,
        steps=2000,
        restarts=2,
        eval_every=50,
        anneal=100,
        patience=3,
        min_delta=2.0,
        stop_at_accuracy=None,
        progress=False,
    ).history
    assert flat.stopped_early and flat.checkpoints[-1]["step"] == 100 + 3 * 50


def test_restarts_alternate_orthonormal_and_free():
    kinds = CompressionSettings(restarts=4).restart_kinds()
    assert kinds == [(True, "importance"), (False, "random")] * 2
    assert (
        CompressionSettings(restarts=2, orthonormal=False).restart_kinds()
        == [(False, "random")] * 2
    )


def test_untied_and_layer_placements_train(tiny):
    layer = models.compress(
        tiny, 5, mode="layer", tied=False, steps=100, restarts=2, progress=False
    )
    assert layer.read.shape == (3, 5, 7) and not layer.tied
    narrower = models.compress(
        tiny, 4, mode="layer", tied=False, start=layer, steps=100, restarts=2, progress=False
    )
    assert narrower.read.shape == (3, 4, 7) and narrower.history.warm_from == 5
    free = models.compress(
        tiny, 5, orthonormal=False, init="random", steps=100, restarts=2, progress=False
    )
    assert free.read.shape == (1, 5, 7) and not free.history.best_orthonormal
    np.testing.assert_allclose(free.read[0], free.write.T)


def test_settings_are_typed_and_named():
    s = CompressionSettings()
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.steps = 5
    assert CompressionSettings.from_json(json.loads(json.dumps(s.to_json()))) == s
    assert s.replace(steps=10).steps == 10 and s.steps == 3000
    with pytest.raises(rasp.RaspcTypeError, match="unknown setting"):
        s.replace(stepz=10)
    with pytest.raises(rasp.RaspcValueError, match="restarts must be an int >= 1"):
        CompressionSettings(restarts=0)
    with pytest.raises(rasp.RaspcValueError, match="learning_rate must be a number >= 0"):
        CompressionSettings(learning_rate=-1.0)
    assert CompressionSettings(steps=250, eval_every=100).total_steps == 300


def test_save_and_load_round_trip(tmp_path, tiny, trained):
    path = models.save_compressed(trained, tmp_path / "small")
    meta = json.loads((path / "model.json").read_text())
    assert meta["extra"]["compressed"]["d"] == 4
    loaded = models.load_compressed(path)
    np.testing.assert_array_equal(loaded.write, trained.write)
    assert loaded.run_batch([["a", "c", "a"], ["b"]]) == trained.run_batch([["a", "c", "a"], ["b"]])
    assert loaded.history == trained.history
    assert loaded.settings == trained.settings
    with pytest.raises(rasp.RaspcValueError, match="pass program"):
        models.evaluate_compression(loaded)
    report = models.evaluate_compression(loaded, program=tiny.program)
    assert report.accuracy == 1.0
    base = models.load_model(path)  # the same directory holds the compiled model
    assert base.run_batch([["a"]]) == [[True]]
    models.save_model(tiny, tmp_path / "plain")
    with pytest.raises(rasp.RaspcValueError, match="not a compressed one"):
        models.load_compressed(tmp_path / "plain")


def test_untied_round_trip(tmp_path, tiny):
    d_full = tiny.model_config.d_model
    rng = np.random.default_rng(0)
    model = CompressedModel(
        tiny, rng.normal(size=(d_full, 3)), rng.normal(size=(3, 3, d_full)), "layer", False
    )
    loaded = models.load_compressed(models.save_compressed(model, tmp_path / "u"))
    np.testing.assert_array_equal(loaded.read, model.read.astype(np.float32))
    assert loaded.mode == "layer" and loaded.history is None


def test_bad_arguments_are_refused(tmp_path, tiny, trained):
    with pytest.raises(rasp.RaspcValueError, match=r"d must be an int in 1\.\.7"):
        models.compress(tiny, 8, progress=False)
    with pytest.raises(rasp.RaspcValueError, match="mode must be one of"):
        models.compress(tiny, 3, mode="bottleneck", progress=False)
    with pytest.raises(rasp.RaspcTypeError, match="unknown setting"):
        models.compress(tiny, 3, learning_rat=0.1, progress=False)
    with pytest.raises(rasp.RaspcTypeError, match=r"compress needs a models\.CompiledModel"):
        models.compress(trained, 3, progress=False)
    with pytest.raises(rasp.RaspcValueError, match="read matrices must be"):
        CompressedModel(tiny, np.eye(7)[:, :3], np.eye(7)[None])
    with pytest.raises(rasp.RaspcValueError, match="needs its read matrices"):
        CompressedModel(tiny, np.eye(7)[:, :3], tied=False)
    with pytest.raises(rasp.RaspcValueError, match="write matrix must be"):
        CompressedModel(tiny, np.eye(8))
    loaded = models.load_model(models.save_model(tiny, tmp_path / "no-program"))
    with pytest.raises(rasp.RaspcValueError, match="pass program"):
        models.compress(loaded, 3, progress=False)


def test_progress_bar_can_be_shown(tiny, capsys):
    models.compress(tiny, 6, steps=100, restarts=2, progress=True)
    err = capsys.readouterr().err
    assert "compress is_a to d=6" in err and "exact on all 39 valid inputs" in err
