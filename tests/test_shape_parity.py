"""Shape parity with Tracr: Map chains take one MLP layer, lookups are sized by their
outputs, and merged models stay exact at every node the user can name.

Tracr composes ``Map(f, Map(g, x))`` into one Map when the program is built (named or
not) and sizes a categorical lookup by its output space; raspc does both, and keeps a
named inner Map decodable (it runs beside the composed Map, in the same MLP layer).
"""

from __future__ import annotations

import warnings

import pytest

import compiler
import rasp
from compiler.circuit import circuit_map
from rasp.generate import generate_programs, to_tracr
from tests.helpers import assert_compiles_exactly

compiling = pytest.importorskip("tracr.compiler.compiling")
trasp = pytest.importorskip("tracr.rasp.rasp")

INTS = {0, 1, 2, 3}


def _named_chain(r, length: int):
    sop = r.tokens
    for i in range(length):
        sop = r.Map(lambda x, i=i: (x + i) % 4, sop).named(f"step{i}")
    return sop


def _tracr_shape(program, vocab, n):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = compiling.compile_rasp_to_model(
            program, vocab=vocab, max_seq_len=n, compiler_bos="compiler_bos"
        )
    return model.model_config.num_layers, len(model.residual_labels)


def _shape(model):
    return model.model_config.num_layers, len(model.residual_labels)


@pytest.mark.parametrize("length", [2, 3, 5])
def test_named_map_chain_is_one_mlp_layer_and_every_step_decodes(length):
    model = assert_compiles_exactly(_named_chain(rasp, length), INTS, 4)
    assert model.model_config.num_layers == 1
    circuit = circuit_map(model)
    for i in range(length):
        node = circuit.node(f"step{i}")
        assert len(node.computed_by) == 1 and node.computed_by[0].startswith("L0MLP[")
        assert node.direction_labels == tuple(f"step{i}:{v}" for v in range(4))
    assert model.apply(["compiler_bos", 0, 3]).decoded[1:] == rasp.evaluate(
        _named_chain(rasp, length), [0, 3]
    )


def test_unnamed_chain_is_one_layer():
    program = rasp.Map(lambda x: x > 1, rasp.Map(lambda x: (x * 3) % 4, rasp.tokens))
    model = assert_compiles_exactly(program.named("big"), INTS, 4)
    assert model.model_config.num_layers == 1


def test_simplify_false_keeps_one_layer_per_map_as_tracr_does():
    sop = rasp.tokens
    for i in range(3):
        sop = rasp.Map(lambda x: (x + 1) % 4, sop, simplify=False).named(f"s{i}")
    model = assert_compiles_exactly(sop, INTS, 3)
    assert model.model_config.num_layers == 3


def test_inner_map_read_twice_is_composed_into_both_readers():
    inner = rasp.Map(lambda x: (x + 1) % 4, rasp.tokens)  # unnamed, read by two Maps
    odd = rasp.Map(lambda x: x % 2, inner).named("odd")
    big = rasp.Map(lambda x: x > 1, inner).named("big")
    program = rasp.SequenceMap(lambda a, b: (a, b), odd, big).named("both")
    model = assert_compiles_exactly(program, INTS, 3)
    assert model.model_config.num_layers == 2  # odd, big (and inner) in L0; both in L1
    assert circuit_map(model).node("odd").computed_by[0].startswith("L0MLP[")


def test_chain_after_an_aggregate_shares_the_layer():
    prev = rasp.Aggregate(
        rasp.Select(rasp.indices, rasp.indices, lambda k, q: k == q - 1), rasp.tokens
    ).named("prev")
    a = rasp.Map(lambda x: (x + 1) % 4, prev).named("a")
    b = rasp.Map(lambda x: x == 0, a).named("b")
    model = assert_compiles_exactly(b, INTS, 4)
    assert model.model_config.num_layers == 1


def test_categorical_lookup_is_sized_by_its_outputs():
    flag = rasp.Map(lambda i: i > 4, rasp.indices).named("late")
    model = assert_compiles_exactly(flag, {"a"}, 10)
    assert model.model_config.mlp_hidden_size == 2  # True and False, not 10 indices


@pytest.mark.parametrize(
    "f, hidden", [(lambda i: i - 4, 2), (lambda i: i * 2, 1), (lambda i: -i, 1)]
)
def test_categorical_to_numerical_lookup_needs_at_most_two_units(f, hidden):
    program = rasp.numerical(rasp.Map(f, rasp.indices)).named("num")
    model = assert_compiles_exactly(program, {"a"}, 9)
    assert model.model_config.mlp_hidden_size == hidden


@pytest.mark.parametrize("length", [2, 4])
def test_named_chains_need_no_more_layers_or_width_than_tracr(length):
    ours = _shape(compiler.compile_rasp_to_model(_named_chain(rasp, length), INTS, 4))
    theirs = _tracr_shape(_named_chain(trasp, length), INTS, 4)
    assert ours[0] <= theirs[0]
    # the kept named steps cost their directions; Tracr's own overhead still exceeds that
    assert ours[1] <= theirs[1] + 4 * (length - 1)


def test_generated_programs_need_no_more_layers_or_width_than_tracr():
    compared = 0
    for g in generate_programs(40, seed=11, depth=(1, 3), size=(1, 4)):
        vocab = set(g.vocab)
        try:
            theirs = _tracr_shape(to_tracr(g), vocab, g.max_seq_len)
        except Exception:
            continue  # Tracr cannot compile it (numerical means, selector combinators, ...)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                model = compiler.compile_rasp_to_model(g.program, vocab, g.max_seq_len)
            except rasp.UnsupportedProgramError:
                continue
        ours = _shape(model)
        assert ours[0] <= theirs[0], f"seed {g.seed}: layers {ours} vs Tracr {theirs}"
        assert ours[1] <= theirs[1], f"seed {g.seed}: width {ours} vs Tracr {theirs}"
        compared += 1
    assert compared >= 5
