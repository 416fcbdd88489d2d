"""SelectorAnd / SelectorOr / SelectorNot compile exactly (Tracr crashes on them), in
Aggregate and SelectorWidth, nested, across different SOp pairs, and with None keys
and queries."""

from __future__ import annotations

import pytest

import compiler
import rasp
from rasp import Comparison
from tests.helpers import assert_compiles_exactly

NUMS = {0, 1, 2, 3}
tok_eq = rasp.Select(rasp.tokens, rasp.tokens, Comparison.EQ)
tok_lt = rasp.Select(rasp.tokens, rasp.tokens, Comparison.LT)
idx_lt = rasp.Select(rasp.indices, rasp.indices, Comparison.LT)
idx_neq = rasp.Select(rasp.indices, rasp.indices, Comparison.NEQ)

SELECTORS = {
    "not": ~tok_eq,
    "and_same_pair": tok_lt & ~tok_eq,
    "or_same_pair": tok_eq | tok_lt,
    "nested_same_pair": ~(tok_eq | (tok_lt & ~tok_eq)),
    "and_across_pairs": tok_eq & idx_lt,
    "and_of_three_groups": tok_lt
    & idx_neq
    & rasp.Select(rasp.indices, rasp.tokens, Comparison.GEQ),
    "and_of_composites": (tok_eq | tok_lt) & ~idx_lt,
    # | and ~ across different SOp pairs: compiled through pairs of SOps
    "or_across_pairs": tok_eq | idx_lt,
    "not_of_and_across_pairs": ~(tok_eq & idx_lt),
    "or_of_three_groups": tok_lt | idx_neq | rasp.Select(rasp.indices, rasp.tokens, Comparison.GEQ),
    "mixed_across_pairs": (tok_eq | ~idx_lt) & idx_neq,
}


@pytest.mark.parametrize("name", SELECTORS)
def test_selector_width_of_combinator(name):
    width = rasp.SelectorWidth(SELECTORS[name]).named(f"width_{name}")
    assert_compiles_exactly(width, NUMS, 5)


@pytest.mark.parametrize("name", SELECTORS)
def test_numerical_aggregate_of_combinator(name):
    values = rasp.numerical(rasp.Map(lambda x: x / 2, rasp.tokens))
    mean = rasp.numerical(rasp.Aggregate(SELECTORS[name], values, default=0))
    assert_compiles_exactly(mean.named(f"mean_{name}"), NUMS, 5)


def test_categorical_aggregate_of_combinator():
    # the previous position whose token is different: and-across-groups, one key at most
    prev = rasp.Select(rasp.indices, rasp.indices, lambda k, q: k == q - 1)
    picked = rasp.Aggregate(prev & ~tok_eq, rasp.tokens).named("prev_if_different")
    assert_compiles_exactly(picked, NUMS, 5)


def test_not_selects_none_keys_as_the_evaluator_does():
    # keys are None where the next token does not exist; ~Select selects them
    nxt = rasp.Aggregate(
        rasp.Select(rasp.indices, rasp.indices, lambda k, q: k == q + 1), rasp.tokens
    ).named("next")
    sel = ~rasp.Select(nxt, rasp.tokens, Comparison.EQ)
    width = rasp.SelectorWidth(sel).named("not_next_eq")
    assert rasp.evaluate(width, [1, 1]) == [1, 1]  # the None key is selected
    assert_compiles_exactly(width, {1, 2, 3}, 4)
    either = rasp.SelectorWidth(
        rasp.Select(nxt, rasp.tokens, Comparison.EQ) | rasp.Select(nxt, rasp.tokens, Comparison.LT)
    ).named("or_with_none")
    assert_compiles_exactly(either, {1, 2, 3}, 4)


def test_combinators_cost_one_head():
    width = rasp.SelectorWidth(tok_eq & idx_lt & ~idx_neq).named("cost")
    cfg = compiler.compile_rasp(width, NUMS, 4).config
    assert (cfg.num_layers, cfg.num_heads) == (1, 1)


def test_or_across_pairs_sees_a_none_key_in_one_component():
    # the pair (next, indices) must keep next's None: Select(next, ...) is False there,
    # but the other Select still decides, exactly as the evaluator does
    nxt = rasp.Aggregate(
        rasp.Select(rasp.indices, rasp.indices, lambda k, q: k == q + 1), rasp.tokens
    ).named("next")
    sel = rasp.Select(nxt, rasp.tokens, Comparison.EQ) | ~rasp.Select(
        rasp.indices, rasp.indices, Comparison.LEQ
    )
    width = rasp.SelectorWidth(sel).named("next_eq_or_later")
    assert rasp.evaluate(width, [1, 1, 2]) == [3, 2, 1]  # the None key counts at 0 and 1
    assert_compiles_exactly(width, {1, 2, 3}, 4)


def test_or_across_pairs_costs_one_mlp_for_the_pairs():
    plain = compiler.compile_rasp(rasp.SelectorWidth(tok_eq & idx_lt), NUMS, 4).config
    paired = compiler.compile_rasp(rasp.SelectorWidth(tok_eq | idx_lt), NUMS, 4).config
    assert paired.num_layers == plain.num_layers + 1  # the pairs' MLP, then the same head
    assert paired.num_heads == plain.num_heads == 1
