"""The compressed model: its forward, training, evaluation, and save/load."""

from __future__ import annotations

import json

import numpy as np
import pytest

import compiler
import models
import rasp
from models.compression import CompressedModel, layer_names
from rasp import lib

STEPS = 300


@pytest.fixture(scope="module")
def tiny():
    """A one-layer categorical program with a 7-dimensional residual stream."""
    program = rasp.Map(lambda x: x == "a", rasp.tokens).named("is_a")
    return compiler.compile_rasp_to_model(program, {"a", "b", "c"}, 3)


@pytest.fixture(scope="module")
def trained(tiny):
    return models.compress(tiny, 4, steps=STEPS, progress=False)


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
    assert report.accuracy == 1.0 and report.checked > 0
    assert [f.name for f in report.layers] == layer_names(model.model_config)
    assert all(f.mse < 1e-9 for f in report.layers)
    assert all(np.isnan(f.cosine) or f.cosine > 0.999 for f in report.layers)


def test_numerical_outputs_snap_to_possible_values():
    program = lib.make_frac_prevs(rasp.tokens == "a")
    model = compiler.compile_rasp_to_model(program, {"a", "b"}, 3)
    values = tuple(sorted(model.compiled.values[model.layout.output], key=float))
    same = CompressedModel(model, np.eye(9) * 0.999, np.eye(9)[None], output_values=values)
    (decoded,) = same.run_batch([["a", "b", "a"]])
    assert decoded == [1, 0.5, pytest.approx(2 / 3)] and all(v in values for v in decoded)


def test_training_lowers_the_loss_and_reaches_full_accuracy(tiny, trained):
    history = trained.history
    assert len(history.loss) == STEPS == len(history.output_loss) == len(history.layer_loss)
    # the validation loss is taken at width d; the training loss rises while annealing
    assert history.checkpoints[-1]["loss"] < history.checkpoints[0]["loss"]
    assert np.mean(history.loss[-20:]) < max(history.loss)
    assert history.checkpoints[-1]["step"] == STEPS and history.seconds > 0
    assert trained.write.shape == (7, 4) and trained.read.shape == (1, 4, 7)
    assert trained.d == 4 and trained.d_full == 7
    report = models.evaluate_compression(trained)
    assert report.accuracy == 1.0, report
    assert trained.apply(["compiler_bos", "a", "b"]).decoded == ["compiler_bos", True, False]
    assert "d_model 7 -> 4" in repr(trained)


def test_the_same_seed_gives_the_same_model(tiny, trained):
    again = models.compress(tiny, 4, steps=STEPS, progress=False)
    np.testing.assert_array_equal(again.write, trained.write)
    assert again.history.loss == trained.history.loss


def test_untied_and_layer_placements_train(tiny):
    layer = models.compress(tiny, 5, mode="layer", tied=False, steps=100, progress=False)
    assert layer.read.shape == (3, 5, 7) and not layer.tied
    free = models.compress(tiny, 5, orthonormal=False, init="random", steps=100, progress=False)
    assert free.read.shape == (1, 5, 7)
    np.testing.assert_allclose(free.read[0], free.write.T)


def test_save_and_load_round_trip(tmp_path, tiny, trained):
    path = models.save_compressed(trained, tmp_path / "small")
    meta = json.loads((path / "model.json").read_text())
    assert meta["extra"]["compressed"]["d"] == 4
    loaded = models.load_compressed(path)
    np.testing.assert_array_equal(loaded.write, trained.write)
    assert loaded.run_batch([["a", "c", "a"], ["b"]]) == trained.run_batch([["a", "c", "a"], ["b"]])
    assert loaded.history.loss == trained.history.loss
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
    models.compress(tiny, 6, steps=100, progress=True)
    assert "compress is_a to d=6" in capsys.readouterr().err
