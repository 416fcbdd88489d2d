"""Prompt datasets for circuit tools: clean/corrupt pairs whose answers differ, of varied
lengths, laid out as the compiled model takes them, deterministic for a seed."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

import compiler
import rasp
from models.prompts import CORRUPTIONS, PromptSet, answers_differ, prompt_set
from rasp import lib
from rasp.errors import RaspcValueError


def _model(name: str):
    e = lib.LIBRARY[name]
    return compiler.compile_rasp_to_model(e.build(e.max_seq_len), set(e.vocab), e.max_seq_len)


@pytest.fixture(scope="module")
def sort_model():
    return _model("sort")


def test_layout_answers_and_corruptions(reverse):
    ps = prompt_set(reverse, 40, seed=3)
    enc = reverse.input_encoder
    bos, pad = enc.encoding_map[enc.bos_token], enc.pad_id
    assert len(ps) == 40 and ps.program == "reverse"
    assert ps.clean.dtype == np.int32 and ps.clean.shape == ps.corrupt.shape
    assert ps.clean.shape[1] == 1 + max(map(len, ps.clean_inputs + ps.corrupt_inputs))
    for ids, inputs in ((ps.clean, ps.clean_inputs), (ps.corrupt, ps.corrupt_inputs)):
        for row, xs in zip(ids, inputs):
            assert row[0] == bos and list(row[len(xs) + 1 :]) == [pad] * (len(row) - len(xs) - 1)
            assert list(row[1 : len(xs) + 1]) == enc.encode([enc.bos_token, *xs])[1:]
    for xs, ys, a, b in zip(ps.clean_inputs, ps.corrupt_inputs, ps.answers, ps.corrupt_answers):
        assert a == tuple(rasp.evaluate(reverse.program, list(xs)))
        assert b == tuple(rasp.evaluate(reverse.program, list(ys)))
        assert answers_differ(a, b)
    assert list(ps.lengths) == [len(x) for x in ps.clean_inputs]
    assert ps.mask.sum() == ps.lengths.sum() and not ps.mask[:, 0].any()
    # varied lengths, within and across pairs, and every corruption kind used
    assert set(ps.lengths) == set(range(1, 5))
    assert (ps.corrupt_lengths != ps.lengths).sum() >= 10
    assert set(ps.kinds) == set(CORRUPTIONS)
    # a "length" corruption keeps the clean tokens on the common prefix
    for xs, ys, kind in zip(ps.clean_inputs, ps.corrupt_inputs, ps.kinds):
        if kind == "length":
            m = min(len(xs), len(ys))
            assert len(xs) != len(ys) and xs[:m] == ys[:m]


def test_answers_are_what_the_model_computes(sort_model):
    ps = prompt_set(sort_model, 32)
    got = sort_model.run_batch([list(x) for x in ps.clean_inputs])
    assert [tuple(g) for g in got] == list(ps.answers)


def test_deterministic_for_a_seed(sort_model):
    a, b, c = (prompt_set(sort_model, 24, seed=s) for s in (7, 7, 8))
    assert json.dumps(a.to_json()) == json.dumps(b.to_json())
    assert a.clean_inputs != c.clean_inputs


def test_fixed_length_keeps_lengths(sort_model):
    ps = prompt_set(sort_model, 24, vary_length=False)
    assert set(ps.lengths) == {sort_model.input_encoder.max_seq_len}
    assert (ps.corrupt_lengths == ps.lengths).all()
    assert set(ps.kinds) <= {"resample", "point"}
    assert (ps.clean != sort_model.input_encoder.pad_id).all()


def test_json_round_trip_with_tuple_values():
    # frac_prevs answers are floats; the JSON must survive json.dumps and come back equal
    model = _model("frac_prevs")
    ps = prompt_set(model, 16)
    back = PromptSet.from_json(json.loads(json.dumps(ps.to_json())))
    assert back.clean_inputs == ps.clean_inputs and back.answers == ps.answers
    np.testing.assert_array_equal(back.corrupt, ps.corrupt)
    with pytest.raises(RaspcValueError, match="not a prompt set"):
        PromptSet.from_json({"format": "raspc-edges"})


def test_model_without_program_uses_its_own_outputs(reverse):
    bare = dataclasses.replace(reverse, program=None)
    assert prompt_set(bare, 8).answers == prompt_set(reverse, 8).answers


def test_refuses_constant_programs_and_bad_sizes(reverse):
    constant = compiler.compile_rasp_to_model(rasp.Map(lambda x: 1, rasp.tokens), {"a", "b"}, 3)
    with pytest.raises(RaspcValueError, match="constant"):
        prompt_set(constant, 4)
    with pytest.raises(RaspcValueError, match="n >= 1"):
        prompt_set(reverse, 0)


def test_mismatched_rows_are_refused():
    ids = np.zeros((2, 3), np.int32)
    with pytest.raises(RaspcValueError, match="rows everywhere"):
        PromptSet("x", ids, ids[:1], ((),) * 2, ((),) * 2, ((),) * 2, ((),) * 2, np.ones(2))
