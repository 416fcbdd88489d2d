"""Saved models (npz + json, no pickle) load back and behave identically."""

from __future__ import annotations

import json

import numpy as np
import pytest

import compiler
import models
import rasp
from compiler.layout import decode_value, encode_value
from rasp import lib


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
