"""Soundness by construction (issue 13) and precise value inference (issue 12, item 5).

Each test is named after a case that used to compile silently wrong (or be refused for
an over-approximation a user would not accept), and checks what happens now.
"""

from __future__ import annotations

import math
import warnings

import pytest

import compiler
import rasp
from compiler import values as value_inference
from rasp import lib
from rasp.errors import (
    CompileError,
    PartialFunctionWarning,
    RaspcWarning,
    UnsupportedProgramError,
)
from tests.helpers import assert_compiles_exactly

EQ, LT, LEQ = rasp.Comparison.EQ, rasp.Comparison.LT, rasp.Comparison.LEQ

# ----------------------------------------------- compiler directions are typed


def test_user_label_like_an_internal_direction_does_not_collide():
    prev = rasp.Aggregate(
        rasp.Select(rasp.indices, rasp.indices, lambda k, q: k == q - 1), rasp.tokens, default="z"
    ).named("prev")
    num = rasp.numerical(rasp.Map(lambda x: 1 if x == "a" else 0, rasp.tokens))
    out = rasp.SequenceMap(lambda p, n: f"{p}{n}", prev, num.named("prev_selected_any"))
    model = assert_compiles_exactly(out.named("out"), {"a", "b"}, 3)
    assert model.model_config.d_model == 18  # nothing merged
    labels = model.residual_labels
    assert len(set(labels)) == len(labels)
    assert "prev_selected_any" in labels and "prev#selected_any" in labels


def test_user_name_with_the_internal_mark_is_refused():
    program = rasp.Map(lambda x: x, rasp.tokens).named("a#selected_any")
    with pytest.raises(UnsupportedProgramError, match="reserves for compiler-internal"):
        compiler.compile_rasp(program, {1, 2}, 3)


def test_residual_labels_that_print_alike_are_refused_not_merged():
    from compiler.basis import ONE, Direction
    from compiler.residual import _refuse_duplicates

    with pytest.raises(CompileError, match="both be labelled 'one'"):
        _refuse_duplicates([ONE, Direction("one")])


# ------------------------------------------------- partial functions are explicit


def test_map_that_always_raises_is_refused_naming_the_exception():
    program = rasp.Map(lambda x: 1 / 0, rasp.tokens).named("boom")
    with pytest.raises(UnsupportedProgramError, match=r"boom: .*ZeroDivisionError"):
        compiler.compile_rasp(program, {1, 2}, 3)


def test_map_that_raises_on_one_input_is_refused_unless_partial():
    program = rasp.Map(lambda x: 10 // (x - 1), rasp.tokens).named("div")
    with pytest.raises(UnsupportedProgramError, match=r"div: its function fails on 1 .* on 1 it"):
        compiler.compile_rasp(program, {1, 2, 3}, 3)
    with pytest.warns(PartialFunctionWarning, match="div"):
        model = compiler.compile_rasp_to_model(program, {1, 2, 3}, 3, partial=True)
    assert model.apply(["compiler_bos", 2, 3, 1]).decoded == ["compiler_bos", 10, 5, None]
    assert issubclass(PartialFunctionWarning, RaspcWarning)


def test_predicate_that_raises_is_refused():
    sel = rasp.Select(rasp.tokens, rasp.tokens, lambda k, q: 1 / (k - q) > 0).named("sel")
    program = rasp.SelectorWidth(sel)
    with pytest.raises(UnsupportedProgramError, match=r"sel: its predicate fails"):
        compiler.compile_rasp(program, {1, 2}, 3)


def test_map_returning_a_list_is_refused():
    program = rasp.Map(lambda x: [x], rasp.tokens).named("listy")
    with pytest.raises(UnsupportedProgramError, match=r"listy: .*returned \[1\].*a tuple"):
        compiler.compile_rasp(program, {1, 2}, 3)


# ------------------------------------------------------------ numbers are finite


@pytest.mark.parametrize("bad", [math.inf, -math.inf])
def test_numerical_map_returning_infinity_is_refused(bad):
    program = rasp.numerical(rasp.Map(lambda x: bad if x == 1 else 0, rasp.tokens)).named("inf")
    with pytest.raises(UnsupportedProgramError, match=r"inf: it is numerical but can take"):
        compiler.compile_rasp(program, {1, 2}, 3)


@pytest.mark.parametrize("encode", [rasp.numerical, rasp.categorical])
def test_map_returning_nan_is_refused(encode):
    program = encode(rasp.Map(lambda x: math.nan if x == 1 else 0, rasp.tokens)).named("nan")
    with pytest.raises(UnsupportedProgramError, match=r"nan: .*returned nan"):
        compiler.compile_rasp(program, {1, 2}, 3)


def test_categorical_infinity_is_a_value_like_any_other():
    program = rasp.Map(lambda x: math.inf if x == 1 else 0, rasp.tokens).named("big")
    assert_compiles_exactly(program, {1, 2}, 3)


# ---------------------------------------------------------- compile time bounded


def test_value_inference_past_its_budget_refuses_naming_the_node(monkeypatch):
    monkeypatch.setattr(value_inference, "INFERENCE_SECONDS", -1.0)
    a = rasp.numerical(rasp.LinearSequenceMap(rasp.indices, rasp.indices, 3, 1)).named("a")
    b = rasp.numerical(rasp.SequenceMap(lambda x, y: x / y if y else 0, a, a)).named("ratio")
    listing = r"a: listing its values .*6 x 6 input values.* ran past"
    with pytest.raises(UnsupportedProgramError, match=listing):
        compiler.compile_rasp(b, {"c", "e"}, 6)


def test_quotient_of_linear_maps_lists_its_values_quickly():
    # was ~285 s of value inference (a linear scan per value in settle); now bisection
    a = rasp.numerical(rasp.LinearSequenceMap(rasp.indices, rasp.indices, 3, 1))
    b = rasp.numerical(rasp.SequenceMap(lambda x, y: x / y if y else 0, a, a)).named("b")
    c = rasp.numerical(rasp.LinearSequenceMap(b, b, 1, 1))
    compiled = compiler.compile_rasp(c, {"c", "e"}, 6)  # must not take minutes
    assert len(compiled.values["b"]) > 10


def test_large_model_warns_at_compile_time(monkeypatch):
    from compiler import weights

    monkeypatch.setattr(weights, "LARGE_PARAMS", 10)
    with pytest.warns(RaspcWarning, match=r"parameters, .* MiB of activations per sequence"):
        compiler.compile_rasp(rasp.tokens + 1, {1, 2}, 3)


# -------------------------------------------- selections proved never empty


def test_double_hist_width_of_a_reflexive_select_is_never_zero():
    # hist = SelectorWidth(Select(tokens, tokens, EQ)) >= 1, so width // hist is total
    assert_compiles_exactly(lib.make_double_hist(), {"a", "b", "c"}, 4)


def test_numerical_map_of_aggregate_over_reflexive_select_compiles():
    same = rasp.Aggregate(rasp.Select(rasp.indices, rasp.indices, EQ), rasp.tokens)
    program = rasp.numerical(rasp.Map(lambda x: x * 2, same.named("same"))).named("double")
    model = assert_compiles_exactly(program, {1, 2, 3}, 4)
    assert None not in model.layout.nodes["same"].values


def test_numerical_map_of_aggregate_over_mirrored_index_compiles():
    opp = (rasp.length - rasp.indices - 1).named("opp")
    flip = rasp.Aggregate(rasp.Select(rasp.indices, opp, EQ), rasp.tokens).named("flip")
    program = rasp.numerical(rasp.Map(lambda x: x + 0.5, flip)).named("shifted")
    assert_compiles_exactly(program, {1, 2, 3}, 4)


def test_numerical_aggregate_with_default_none_over_a_never_empty_selection_compiles():
    prefix = rasp.Select(rasp.indices, rasp.indices, LEQ)
    x = rasp.numerical(rasp.Map(lambda t: t, rasp.tokens)).named("x")
    mean = rasp.numerical(rasp.Aggregate(prefix, x)).named("mean")  # Tracr's default None
    assert_compiles_exactly(mean, {0, 1}, 4)


def test_possibly_empty_selection_keeps_none():
    prev = rasp.Aggregate(rasp.Select(rasp.indices, rasp.indices, LT), rasp.tokens).named("p")
    program = rasp.numerical(rasp.Map(lambda x: x * 2, prev)).named("twice")
    with pytest.raises(UnsupportedProgramError, match="non-numeric values"):
        compiler.compile_rasp(program, {1, 2}, 3)


def test_positional_selector_width_is_exact():
    sel = rasp.Select(rasp.indices, rasp.indices, lambda k, q: k == q - 1)
    compiled = compiler.compile_rasp(rasp.SelectorWidth(sel).named("w"), {1}, 4)
    assert compiled.values["w"] == frozenset({0, 1})


# ------------------------------------------------- distinct floats stay distinct


@pytest.mark.parametrize("eps", [1e-10, 1e-12, 1e-14])
def test_tie_break_sort_keys_stay_distinct(eps):
    keys = rasp.SequenceMap(lambda x, i: x + i * eps, rasp.tokens, rasp.indices).named("keys")
    program = lib.make_sort_unique(rasp.tokens, keys)
    model = assert_compiles_exactly(program, {1, 2, 3}, 4)
    assert len(model.layout.nodes["keys"].values) == 12


def test_threshold_over_a_wide_mean_is_judged_by_the_steps_it_takes():
    # means of {1e3, 1e-3, 0} at length 10 sit 1.1e-5 apart near 0, but x > 800.5
    # steps over one gap of about 33: the old global gap rule refused it
    v = rasp.numerical(rasp.Map(lambda t: {"a": 1e3, "b": 1e-3, "c": 0}[t], rasp.tokens))
    prefix = rasp.Select(rasp.indices, rasp.indices, LEQ)
    mean = rasp.numerical(rasp.Aggregate(prefix, v.named("v"), default=0)).named("mean")
    program = rasp.Map(lambda x: x > 800.5, mean).named("high")
    with warnings.catch_warnings():
        warnings.simplefilter("error", RaspcWarning)
        assert_compiles_exactly(program, {"a", "b", "c"}, 10, samples=300)


# ------------------------------------------------ one size rule, at the construction


def test_sequence_map_of_one_sop_with_itself_over_600_tokens_compiles_to_its_real_size():
    # was refused as "360,000 hidden units"; the same-SOp table has one unit per value
    program = rasp.SequenceMap(lambda x, y: (x + y) % 7, rasp.tokens, rasp.tokens).named("s")
    compiled = compiler.compile_rasp(program, set(range(600)), 2)
    (block,) = compiled.blocks["s"]
    assert block.hidden_size == 600


def test_separable_sequence_map_over_600_tokens_and_500_positions_compiles():
    # tokens + indices: was refused as 300,000 units; its staircase has ~2 per sum
    program = rasp.numerical(rasp.SequenceMap(lambda x, i: x + i, rasp.tokens, rasp.indices))
    compiled = compiler.compile_rasp(program.named("sum"), set(range(600)), 500)
    assert sum(b.hidden_size for b in compiled.blocks["sum"]) < 2 * 1100


def test_a_real_oversized_table_is_refused_with_every_other_problem():
    x = rasp.Map(lambda t: t, rasp.tokens).named("x")
    y = rasp.Map(lambda i: i, rasp.indices).named("y")
    big = rasp.SequenceMap(lambda a, b: (a * b + a) % 5, x, y).named("big")
    bad = rasp.Map(lambda v: 1 / 0, rasp.tokens).named("bad")
    program = rasp.SequenceMap(lambda a, b: a, big, bad)
    with pytest.raises(UnsupportedProgramError) as info:
        compiler.compile_rasp(program, set(range(600)), 500)
    labels = [label for label, _ in info.value.problems]
    assert "bad" in labels and "big" in labels  # one error, both passes' problems
    assert "300,000 hidden units" in str(info.value)


def test_nodes_named_like_the_models_own_directions_get_distinct_labels():
    one = rasp.numerical(rasp.Map(lambda x: 1 if x == "a" else 0, rasp.tokens)).named("one")
    toks = rasp.Map(lambda x: x, rasp.tokens).named("tokens")
    program = rasp.SequenceMap(lambda a, b: f"{a}{b}", toks, one).named("out")
    model = assert_compiles_exactly(program, {"a", "b"}, 3)
    labels = model.residual_labels
    assert labels.count("one") == 1 and "one_2" in labels
    assert "tokens_2:a" in labels
