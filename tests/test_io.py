"""Saved models (npz + json, no pickle) load back and behave identically."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import compiler
import models
import rasp
from compiler.artifact import decode_value, encode_value
from models.io import expected_param_shapes
from rasp import lib
from rasp.errors import ModelFileError
from tests.model_files import CORRUPTIONS


@pytest.mark.parametrize("value", [None, True, 1, 1.0, 0.1, "1", (1, "a", (None, False))])
def test_value_codec_keeps_types(value):
    back = decode_value(json.loads(json.dumps(encode_value(value))))
    assert back == value and type(back) is type(value)


def test_round_trip_runs_decodes_and_verifies(tmp_path):
    program = lib.make_sort_unique(rasp.tokens, rasp.tokens)
    model = compiler.compile_rasp_to_model(program, {1, 2, 3}, 4)
    models.save_model(model, tmp_path / "m")
    loaded = models.load_model(tmp_path / "m")
    assert loaded.residual_labels == model.residual_labels
    assert loaded.layout == model.layout
    for key, module in model.params.items():
        for name, array in module.items():
            np.testing.assert_array_equal(np.asarray(loaded.params[key][name]), array)
    assert loaded.apply(["compiler_bos", 3, 1, 2]).decoded == ["compiler_bos", 1, 2, 3]
    assert models.verify(loaded, program=program).ok
    with pytest.raises(rasp.RaspcValueError, match="pass program"):
        models.verify(loaded)


def test_numerical_output_round_trip(tmp_path):
    program = lib.make_frac_prevs(rasp.tokens == "a")
    model = compiler.compile_rasp_to_model(program, {"a", "b"}, 5)
    loaded = models.load_model(models.save_model(model, tmp_path / "f"))
    assert loaded.run_batch([["a", "b"]]) == model.run_batch([["a", "b"]])


def test_bad_directories_are_refused(tmp_path):
    with pytest.raises(rasp.RaspcValueError, match="not a saved raspc model"):
        models.load_model(tmp_path)
    (tmp_path / "model.json").write_text(json.dumps({"format": "raspc-model", "version": 99}))
    with pytest.raises(rasp.RaspcValueError, match="version"):
        models.load_model(tmp_path)


# ---------------------------------------------------------------- validated loading


@pytest.fixture(scope="module")
def good_folder(tmp_path_factory):
    model = compiler.compile_rasp_to_model(lib.make_reverse(rasp.tokens), {"a", "b"}, 3)
    return models.save_model(model, tmp_path_factory.mktemp("io") / "reverse")


def _copy(folder, tmp_path):
    return Path(shutil.copytree(folder, tmp_path / "copy"))


@pytest.mark.parametrize("case", CORRUPTIONS, ids=[c.name for c in CORRUPTIONS])
def test_corrupted_model_folder_is_refused_naming_the_file(case, good_folder, tmp_path):
    # These loaded with raw BadZipFile / JSONDecodeError / TypeError('__class__'), or loaded
    # a wrong-shape array that crashed later inside a matmul.
    folder = _copy(good_folder, tmp_path)
    case.apply(folder)
    with pytest.raises(ModelFileError) as info:
        models.load_model(folder)
    message = str(info.value)
    assert case.match in message
    assert str(folder) in message  # names the folder or the file in it
    assert isinstance(info.value, rasp.RaspcError) and isinstance(info.value, ValueError)


def test_good_folder_still_loads_and_runs(good_folder):
    loaded = models.load_model(good_folder)
    assert loaded.apply(["compiler_bos", "a", "b", "b"]).decoded == ["compiler_bos", "b", "b", "a"]


def test_wrong_shape_npz_was_loaded_and_crashed_in_a_matmul(good_folder, tmp_path):
    folder = _copy(good_folder, tmp_path)
    with np.load(folder / "params.npz", allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    key = "transformer/layer_0/mlp/linear_1/w"
    arrays[key] = np.zeros((arrays[key].shape[0] + 1, arrays[key].shape[1]), np.float32)
    np.savez(folder / "params.npz", **arrays)
    with pytest.raises(ModelFileError, match=r"linear_1/w' has shape \(\d+, \d+\), the config"):
        models.load_model(folder)


def test_config_with_class_key_was_a_raw_type_error(good_folder, tmp_path):
    folder = _copy(good_folder, tmp_path)
    meta = json.loads((folder / "model.json").read_text())
    meta["config"]["__class__"] = "ModelConfig"
    (folder / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ModelFileError, match=r"model.json: field 'config' has unknown keys"):
        models.load_model(folder)


def test_expected_shapes_are_the_compiled_shapes(good_folder):
    loaded = models.load_model(good_folder)
    shapes = expected_param_shapes(loaded.model_config)
    got = {f"{m}/{n}": tuple(a.shape) for m, p in loaded.params.items() for n, a in p.items()}
    assert got == shapes
