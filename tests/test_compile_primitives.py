"""Each primitive, in each encoding it supports, compiles to a model that matches the
evaluator on every input of the (small) input space."""

from __future__ import annotations

import pytest

import rasp
from rasp import Comparison
from tests.helpers import assert_compiles_exactly

NUMS = {1, 2, 3}
CHARS = {"a", "b", "c"}


def num(sop):
    return rasp.numerical(sop)


def ident(sop):
    return rasp.Map(lambda x: x, sop, simplify=False)


def test_tokens_and_indices_categorical():
    assert_compiles_exactly(rasp.Map(lambda x: x, rasp.tokens).named("t"), CHARS, 4)
    assert_compiles_exactly(rasp.Map(lambda x: x * 2, rasp.indices).named("i"), NUMS, 4)


def test_length_primitive_and_library_length():
    assert_compiles_exactly((rasp.length + 0).named("len"), CHARS, 5)
    width = rasp.SelectorWidth(rasp.Select(rasp.tokens, rasp.tokens, Comparison.TRUE))
    assert_compiles_exactly(width.named("length"), CHARS, 5)


@pytest.mark.parametrize(
    "name, build",
    [
        ("cat_to_cat", lambda: rasp.Map(lambda x: x % 2, rasp.tokens)),
        ("cat_to_num", lambda: num(rasp.Map(lambda x: -1.5 * x, rasp.tokens))),
        ("num_to_cat", lambda: rasp.Map(lambda x: x > 1, num(ident(rasp.tokens)))),
        ("num_to_num", lambda: num(rasp.Map(lambda x: x * x - 5, num(ident(rasp.tokens))))),
        ("returns_none", lambda: rasp.Map(lambda x: None if x == 2 else x, rasp.tokens)),
    ],
)
def test_map_in_every_encoding(name, build):
    assert_compiles_exactly(build().named(name), NUMS, 4)


def test_map_of_fraction_is_exact_without_a_knob():
    bools = num(rasp.Map(lambda x: x == "a", rasp.tokens))
    frac = num(rasp.Aggregate(rasp.Select(rasp.indices, rasp.indices, Comparison.LEQ), bools, 0))
    assert_compiles_exactly(rasp.Map(lambda f: f > 0.5, frac).named("gt_half"), CHARS, 6)
    assert_compiles_exactly(num(rasp.Map(lambda f: 1 - 3 * f, frac)).named("neg"), CHARS, 6)


@pytest.mark.parametrize(
    "name, build",
    [
        ("product", lambda: rasp.SequenceMap(lambda x, y: x * y, rasp.tokens, rasp.indices)),
        ("same_input", lambda: rasp.SequenceMap(lambda x, y: x - y, rasp.tokens, rasp.tokens)),
        ("operator_add", lambda: rasp.tokens + rasp.indices),
        ("operator_eq", lambda: rasp.tokens == rasp.indices),
        (
            "to_numerical",
            lambda: num(rasp.SequenceMap(lambda x, y: x / (y + 1), rasp.tokens, rasp.indices)),
        ),
    ],
)
def test_sequence_map(name, build):
    assert_compiles_exactly(build().named(name), NUMS, 4)


def test_linear_sequence_map_numerical_and_categorical_inputs():
    x = num(ident(rasp.tokens))
    y = num(ident(rasp.indices))
    assert_compiles_exactly(num(rasp.LinearSequenceMap(x, y, 2, -1)).named("lin"), NUMS, 4)
    mixed = num(rasp.LinearSequenceMap(x, rasp.indices, 0.5, 3))
    assert_compiles_exactly(mixed.named("mixed"), NUMS, 4)
    categorical = rasp.LinearSequenceMap(rasp.tokens, rasp.indices, 1, 1)
    assert_compiles_exactly(categorical.named("cat_lin"), NUMS, 4)


def test_full_and_constant_sop():
    assert_compiles_exactly((rasp.Full(3) + rasp.tokens).named("full_cat"), NUMS, 4)
    shifted = num(rasp.LinearSequenceMap(num(rasp.Full(2)), num(ident(rasp.tokens)), 1, 1))
    assert_compiles_exactly(shifted.named("full_num"), NUMS, 4)
    const = rasp.ConstantSOp([5, 6, 7, 8])
    assert_compiles_exactly((const + rasp.tokens).named("const"), NUMS, 4)


@pytest.mark.parametrize("comparison", list(Comparison))
def test_categorical_aggregate_every_comparison(comparison):
    sel = rasp.Select(rasp.indices, rasp.tokens, comparison)
    agg = rasp.Aggregate(sel, rasp.Map(lambda x: x % 2, rasp.tokens))
    assert_compiles_exactly(agg.named(f"agg_{comparison.name}"), {0, 1, 2, 3}, 4)


@pytest.mark.parametrize("comparison", list(Comparison))
def test_numerical_aggregate_every_comparison(comparison):
    sel = rasp.Select(rasp.tokens, rasp.tokens, comparison)
    agg = num(rasp.Aggregate(sel, num(rasp.Map(lambda x: x > 1, rasp.tokens)), default=0))
    assert_compiles_exactly(agg.named(f"mean_{comparison.name}"), NUMS, 4)


@pytest.mark.parametrize("comparison", list(Comparison))
@pytest.mark.parametrize("encoding", [rasp.categorical, rasp.numerical])
def test_selector_width_every_comparison(comparison, encoding):
    width = encoding(rasp.SelectorWidth(rasp.Select(rasp.tokens, rasp.tokens, comparison)))
    assert_compiles_exactly(width.named(f"width_{comparison.name}"), NUMS, 5)


def test_numerical_mean_of_arbitrary_values():
    values = num(rasp.Map(lambda x: {1: -2.0, 2: 0.5, 3: 4.0}[x], rasp.tokens))
    sel = rasp.Select(rasp.indices, rasp.indices, Comparison.LEQ)
    assert_compiles_exactly(num(rasp.Aggregate(sel, values, 0)).named("mean"), NUMS, 4)


def test_numerical_mean_of_categorical_numbers():
    sel = rasp.Select(rasp.tokens, rasp.tokens, Comparison.LEQ)
    assert_compiles_exactly(num(rasp.Aggregate(sel, rasp.tokens, 0)).named("mean_cat"), NUMS, 4)


def test_callable_predicate():
    sel = rasp.Select(rasp.indices, rasp.indices, lambda k, q: k == q - 1)
    prev = rasp.Aggregate(sel, rasp.tokens).named("prev")
    assert_compiles_exactly(prev, CHARS, 5)


def test_aggregate_selecting_nothing_decodes_none():
    sel = rasp.Select(rasp.tokens, rasp.tokens, Comparison.FALSE)
    model = assert_compiles_exactly(rasp.Aggregate(sel, rasp.tokens).named("never"), CHARS, 3)
    assert model.apply(["compiler_bos", "a", "b"]).decoded == ["compiler_bos", None, None]


def test_none_flows_through_maps():
    sel = rasp.Select(rasp.indices, rasp.indices, lambda k, q: k == q + 1)
    nxt = rasp.Aggregate(sel, rasp.tokens)
    upper = rasp.Map(lambda x: x.upper(), nxt).named("upper_next")
    model = assert_compiles_exactly(upper, CHARS, 4)
    assert model.apply(["compiler_bos", "a", "b"]).decoded == ["compiler_bos", "B", None]


def test_two_selector_widths_share_a_layer_without_interference():
    w1 = rasp.SelectorWidth(rasp.Select(rasp.tokens, rasp.tokens, Comparison.LT))
    w2 = rasp.SelectorWidth(rasp.Select(rasp.tokens, rasp.tokens, Comparison.EQ))
    both = rasp.SequenceMap(lambda a, b: 10 * a + b, w1, w2).named("both")
    model = assert_compiles_exactly(both, NUMS, 5)
    assert model.model_config.num_heads == 2
    assert model.model_config.num_layers == 2


def test_numerical_tokens():
    doubled = num(rasp.Map(lambda x: 2 * x, num(rasp.tokens)))
    assert_compiles_exactly(doubled.named("double"), {-1, 0, 2.5}, 3)


def test_large_vocabulary_and_values_wider_than_key_space():
    vocab = set(range(300))
    hist = rasp.SelectorWidth(rasp.Select(rasp.tokens, rasp.tokens, Comparison.EQ))
    assert_compiles_exactly(hist.named("hist300"), vocab, 8, samples=200)
    smaller = rasp.Select(rasp.tokens, rasp.tokens, Comparison.LT)
    assert_compiles_exactly(
        rasp.Aggregate(
            rasp.Select(rasp.indices, rasp.SelectorWidth(smaller), Comparison.EQ), rasp.tokens
        ).named("sort300"),
        vocab,
        6,
        samples=200,
    )
