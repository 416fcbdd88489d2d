"""The reference evaluator: what each primitive computes, None flow, defaults,
evaluation errors and causal mode."""

from __future__ import annotations

import itertools
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rasp
from rasp import lib

T, IX = rasp.tokens, rasp.indices
C = rasp.Comparison

small_lists = st.lists(st.integers(0, 4), min_size=1, max_size=8)


def mean_of(sel: rasp.Selector, sop: rasp.SOp) -> rasp.SOp:
    return rasp.numerical(rasp.Aggregate(sel, sop, default=0))


# ---------------------------------------------------------------- primitives


def test_tokens_indices_length():
    xs = ["x", "y", "z"]
    assert rasp.evaluate(T, xs) == xs
    assert rasp.evaluate(IX, xs) == [0, 1, 2]
    assert rasp.evaluate(rasp.length, xs) == [3, 3, 3]


def test_tokens_returns_a_fresh_list():
    xs = [1, 2]
    out = rasp.evaluate(T, xs)
    out.append(3)
    assert xs == [1, 2]


def test_accepts_tuples_and_other_sequences():
    assert rasp.evaluate(T + 1, (1, 2)) == [2, 3]
    assert rasp.evaluate(T + 1, range(3)) == [1, 2, 3]


def test_empty_input_gives_empty_outputs():
    sel = rasp.Select(T, T, C.EQ)
    for program in [
        T,
        IX,
        rasp.length,
        T + 1,
        rasp.Aggregate(sel, T),
        rasp.SelectorWidth(sel),
        mean_of(sel, T),
        sel,
        lib.make_sort_freq(4),
    ]:
        assert rasp.evaluate(program, []) == []


@settings(max_examples=50, deadline=None)
@given(small_lists)
def test_map_and_sequence_map_are_position_wise(xs):
    assert rasp.evaluate(rasp.Map(lambda x: x * x - 1, T), xs) == [x * x - 1 for x in xs]
    pairs = rasp.SequenceMap(lambda x, i: (x, i), T, IX)
    assert rasp.evaluate(pairs, xs) == list(zip(xs, range(len(xs))))
    lin = rasp.LinearSequenceMap(T, IX, 3, -2)
    assert rasp.evaluate(lin, xs) == [3 * x - 2 * i for i, x in enumerate(xs)]


def test_full_and_constant_sop():
    assert rasp.evaluate(rasp.Full("f"), [1, 2, 3]) == ["f", "f", "f"]
    assert rasp.evaluate(rasp.ConstantSOp([7, 8]), [1, 2]) == [7, 8]
    longer = rasp.ConstantSOp([7, 8, 9], check_length=False)
    assert rasp.evaluate(longer, [1, 2]) == [7, 8]


def test_constant_sop_length_errors_name_the_label():
    with pytest.raises(rasp.EvaluationError, match="konst: the constant has 2 values"):
        rasp.evaluate(rasp.ConstantSOp([1, 2]).named("konst"), [1, 2, 3])
    with pytest.raises(ValueError, match="only 1 values"):
        rasp.evaluate(rasp.ConstantSOp([1], check_length=False), [1, 2])


# ---------------------------------------------------------------- selectors


def test_select_matrix_is_query_by_key():
    # sel[q][k] = predicate(keys[k], queries[q]); LT selects keys smaller than the query.
    sel = rasp.Select(T, IX, C.LT)
    assert rasp.evaluate(sel, [0, 5, 1]) == [
        [False, False, False],  # query 0: no key < 0
        [True, False, False],  # query 1: key 0
        [True, False, True],  # query 2: keys 0 and 1 (values 0 and 1)
    ]


@pytest.mark.parametrize("comparison", list(C))
@settings(max_examples=20, deadline=None)
@given(xs=small_lists)
def test_every_comparison_matrix(comparison, xs):
    sel = rasp.evaluate(rasp.Select(T, IX, comparison), xs)
    assert sel == [[comparison(k, q) for k in xs] for q in range(len(xs))]


def test_callable_predicate_gets_key_then_query():
    seen = set()

    def predicate(key, query):
        seen.add((key, query))
        return key == query + 10

    sel = rasp.Select(T, IX, predicate)
    assert rasp.evaluate(sel, [10, 11]) == [[True, False], [False, True]]
    assert (10, 0) in seen and (0, 10) not in seen


def test_predicate_called_once_per_distinct_pair():
    calls = []
    sel = rasp.Select(T, T, lambda k, q: calls.append((k, q)) or k == q)
    rasp.evaluate(rasp.SelectorWidth(sel), [1, 2, 1, 2, 1, 2])
    assert sorted(calls) == [(1, 1), (1, 2), (2, 1), (2, 2)]


def test_selector_and_or_not():
    a = rasp.Select(IX, IX, C.LEQ)
    b = rasp.Select(T, T, C.EQ)
    xs = [1, 2, 1]
    av, bv = np.array(rasp.evaluate(a, xs)), np.array(rasp.evaluate(b, xs))
    assert rasp.evaluate(a & b, xs) == (av & bv).tolist()
    assert rasp.evaluate(a | b, xs) == (av | bv).tolist()
    assert rasp.evaluate(~a, xs) == (~av).tolist()


def test_constant_selector():
    matrix = [[1, 0], [1, 1]]
    assert rasp.evaluate(rasp.ConstantSelector(matrix), [5, 6]) == [[True, False], [True, True]]
    with pytest.raises(rasp.EvaluationError, match="2x2 but the input has 3"):
        rasp.evaluate(rasp.ConstantSelector(matrix), [5, 6, 7])
    small = rasp.ConstantSelector([[1, 1, 1]] * 3, check_length=False)
    assert rasp.evaluate(rasp.SelectorWidth(small), [0, 0]) == [2, 2]


@settings(max_examples=50, deadline=None)
@given(small_lists)
def test_selector_width_counts_selected_keys(xs):
    width = rasp.evaluate(rasp.SelectorWidth(rasp.Select(T, T, C.LEQ)), xs)
    assert width == [sum(1 for k in xs if k <= q) for q in xs]


# ---------------------------------------------------------------- aggregates


def test_categorical_aggregate_reads_the_one_selected_key():
    prev = rasp.Select(IX, IX, lambda k, q: k == q - 1)
    assert rasp.evaluate(rasp.Aggregate(prev, T), ["a", "b", "c"]) == [None, "a", "b"]


def test_categorical_aggregate_of_keys_sharing_a_value():
    same = rasp.Select(T, T, C.EQ)
    assert rasp.evaluate(rasp.Aggregate(same, T), ["a", "b", "a"]) == ["a", "b", "a"]


def test_categorical_aggregate_of_differing_values_is_an_error_naming_it():
    everything = rasp.Select(T, T, C.TRUE)
    program = rasp.Aggregate(everything, T).named("mixed")
    with pytest.raises(rasp.EvaluationError, match="mixed: a categorical Aggregate") as info:
        rasp.evaluate(program, ["a", "b"])
    assert "rasp.numerical" in str(info.value)
    assert isinstance(info.value, ValueError)


def test_categorical_aggregate_default():
    nothing = rasp.Select(T, T, C.FALSE)
    assert rasp.evaluate(rasp.Aggregate(nothing, T), [1, 2]) == [None, None]
    assert rasp.evaluate(rasp.Aggregate(nothing, T, default="d"), [1, 2]) == ["d", "d"]


@settings(max_examples=50, deadline=None)
@given(small_lists)
def test_numerical_aggregate_is_the_mean(xs):
    program = mean_of(rasp.Select(IX, IX, C.LEQ), rasp.numerical(T + 0))
    got = rasp.evaluate(program, xs)
    expected = [np.mean(xs[: i + 1]) for i in range(len(xs))]
    assert np.allclose(got, expected)


def test_numerical_aggregate_default_and_single_value():
    nothing = rasp.Select(T, T, C.FALSE)
    assert rasp.evaluate(mean_of(nothing, rasp.numerical(T)), [1, 2]) == [0, 0]
    own = rasp.Select(IX, IX, C.EQ)
    out = rasp.evaluate(mean_of(own, rasp.numerical(T == 1)), [1, 2])
    assert out == [True, False]  # one selected key: its value as it is
    assert rasp.evaluate(mean_of(rasp.Select(IX, IX, C.TRUE), rasp.numerical(T)), [1, 2]) == [
        1.5,
        1.5,
    ]


def test_numerical_aggregate_of_non_numbers_is_an_error():
    everything = rasp.Select(T, T, C.TRUE)
    program = rasp.numerical(rasp.Aggregate(everything, T, default=0)).named("avg")
    with pytest.raises(rasp.EvaluationError, match="avg: a numerical Aggregate averages"):
        rasp.evaluate(program, ["a", "b"])


# ---------------------------------------------------------------- None flow


def test_maps_of_none_are_none_and_not_called():
    shifted = lib.shift_by(1, T)
    calls = []
    program = rasp.Map(lambda x: calls.append(x) or x + 1, shifted)
    assert rasp.evaluate(program, [1, 2, 3]) == [None, 2, 3]
    assert None not in calls
    pair = rasp.SequenceMap(lambda a, b: a + b, shifted, T)
    assert rasp.evaluate(pair, [1, 2, 3]) == [None, 3, 5]
    assert rasp.evaluate(rasp.SequenceMap(lambda a, b: a + b, T, shifted), [1, 2]) == [None, 3]


def test_select_never_selects_none():
    shifted = lib.shift_by(1, T)
    seen = []
    always = rasp.Select(shifted, shifted, lambda k, q: seen.append((k, q)) or True)
    assert rasp.evaluate(rasp.SelectorWidth(always), [1, 2, 3]) == [0, 2, 2]
    assert all(k is not None and q is not None for k, q in seen)
    eq = rasp.Select(shifted, T, C.EQ)  # Comparison itself would raise on None
    assert rasp.evaluate(rasp.SelectorWidth(eq), [1, 1, 1]) == [2, 2, 2]


def test_numerical_aggregate_selecting_none_is_an_error():
    shifted = rasp.numerical(lib.shift_by(1, T))  # categorical shift, numerical copy
    program = mean_of(rasp.Select(IX, IX, C.TRUE), shifted)
    with pytest.raises(rasp.EvaluationError, match="None"):
        rasp.evaluate(program, [1, 2])


def test_categorical_aggregate_passes_none_values_on():
    shifted = lib.shift_by(1, T)
    own = rasp.Select(IX, IX, C.EQ)
    assert rasp.evaluate(rasp.Aggregate(own, shifted), [1, 2]) == [None, 1]


# ---------------------------------------------------------------- functions that fail


def test_failing_map_is_an_evaluation_error_naming_the_label():
    program = rasp.Map(lambda x: 1 / x, T).named("inverse")
    with pytest.raises(rasp.EvaluationError, match=r"inverse: .*ZeroDivisionError.*value 0") as e:
        rasp.evaluate(program, [1, 0])
    assert isinstance(e.value.__cause__, ZeroDivisionError)


def test_failing_sequence_map_shows_both_values():
    program = rasp.SequenceMap(lambda a, b: a / b, T, IX).named("ratio")
    with pytest.raises(rasp.EvaluationError, match=r"ratio: .*\(5, 0\)"):
        rasp.evaluate(program, [5, 6])


def test_failing_predicate_is_an_evaluation_error():
    sel = rasp.Select(T, T, lambda k, q: k < q).named("cmp")
    with pytest.raises(rasp.EvaluationError, match="cmp: the predicate raised TypeError"):
        rasp.evaluate(rasp.SelectorWidth(sel), [1, "a"])


def test_evaluate_rejects_bad_arguments():
    with pytest.raises(rasp.RaspcTypeError, match="expected a RASP expression"):
        rasp.evaluate(lambda x: x, [1])
    with pytest.raises(rasp.RaspcTypeError, match="list of tokens"):
        rasp.evaluate(T, "abc")
    with pytest.raises(TypeError):
        rasp.evaluate(T, 5)
    with pytest.raises(TypeError):
        rasp.evaluate(T, (x for x in [1]))


def test_unknown_expression_types_are_refused():
    class Custom(rasp.SOp):
        _kind = "custom"

    with pytest.raises(rasp.RaspcTypeError, match="no evaluation rule for Custom"):
        rasp.evaluate(T + Custom(), [1])


# ---------------------------------------------------------------- values and caching


def test_cache_keeps_1_1point0_and_true_apart():
    program = rasp.Map(lambda x: type(x).__name__, T)
    assert rasp.evaluate(program, [1, 1.0, True, 1]) == ["int", "float", "bool", "int"]


def test_map_called_once_per_distinct_value():
    calls = []
    rasp.evaluate(rasp.Map(lambda x: calls.append(x) or x, T), [3, 3, 4, 3, 4])
    assert sorted(calls) == [3, 4]


def test_unhashable_values_work():
    boxed = rasp.Map(lambda x: [x % 2], T)
    same = rasp.Select(boxed, boxed, C.EQ)
    assert rasp.evaluate(rasp.Aggregate(same, boxed), [1, 2, 3]) == [[1], [0], [1]]
    assert rasp.evaluate(rasp.SelectorWidth(same), [1, 2, 3]) == [2, 1, 2]
    assert rasp.evaluate(rasp.Map(len, boxed), [1, 2]) == [1, 1]


def test_shared_subexpressions_are_evaluated_once():
    calls = []
    shared = rasp.Map(lambda x: calls.append(x) or x, T).named("shared")  # named: not fused
    top = rasp.SequenceMap(lambda a, b: a + b, shared + 1, shared * 2)
    assert rasp.evaluate(top, [5]) == [16]
    assert calls == [5]


def test_evaluate_all_gives_every_node_by_label():
    sel = rasp.Select(T, T, C.EQ).named("same")
    width = rasp.SelectorWidth(sel).named("hist")
    values = rasp.evaluate_all(width, ["a", "b", "a"])
    assert set(values) == {"tokens", "same", "hist"}
    assert values["hist"] == [2, 1, 2]
    assert isinstance(values["same"], np.ndarray) and values["same"].dtype == bool


def test_deep_programs_evaluate_without_recursion():
    sop = T
    for _ in range(3000):
        sop = rasp.Map(lambda x: x + 1, sop, simplify=False)
    assert rasp.evaluate(sop, [0, 1]) == [3000, 3001]


# ---------------------------------------------------------------- causal mode


def test_causal_length_and_masks():
    xs = [4, 5, 6]
    assert rasp.evaluate(rasp.length, xs, causal=True) == [1, 2, 3]
    everything = rasp.Select(T, T, C.TRUE)
    assert rasp.evaluate(everything, xs, causal=True) == [
        [True, False, False],
        [True, True, False],
        [True, True, True],
    ]
    nothing = rasp.Select(T, T, C.FALSE)
    assert rasp.evaluate(~nothing, xs, causal=True) == rasp.evaluate(everything, xs, causal=True)
    full = rasp.ConstantSelector([[1] * 3] * 3)
    assert rasp.evaluate(rasp.SelectorWidth(full), xs, causal=True) == [1, 2, 3]


def test_causal_mean_and_width():
    everything = rasp.Select(T, T, C.TRUE)
    xs = [2, 4, 6]
    assert rasp.evaluate(mean_of(everything, rasp.numerical(T)), xs, causal=True) == [2, 3.0, 4.0]
    assert rasp.evaluate(rasp.SelectorWidth(everything), xs, causal=True) == [1, 2, 3]


def prefix_stable_programs() -> dict[str, rasp.SOp]:
    """Programs whose Select keys depend on positions <= the key only."""
    t, i = T, IX
    everything = rasp.Select(t, t, C.TRUE)
    prev = rasp.Select(i, i, lambda k, q: k == q - 1)
    return {
        "map": rasp.Map(lambda x: x % 3, t),
        "length": rasp.length * 1,
        "seqmap_length": rasp.SequenceMap(lambda x, n: x * n, t, rasp.length),
        "width": rasp.SelectorWidth(rasp.Select(t, t, C.LT)),
        "mean": mean_of(everything, rasp.numerical(t + 0)),
        "prev": rasp.Aggregate(prev, t),
        "last": rasp.Aggregate(rasp.Select(i, rasp.length - 1, C.EQ), t * 2),
        "not": rasp.SelectorWidth(~rasp.Select(t, i, C.GT)),
        "and_or": rasp.SelectorWidth(
            (rasp.Select(t, t, C.EQ) & everything) | rasp.Select(i, i, C.EQ)
        ),
        "hist": lib.make_hist(),
        "frac_prevs": lib.make_frac_prevs(t == 1),
        "running_count": lib.make_running_count(t, 2),
    }


@pytest.mark.parametrize("name", sorted(prefix_stable_programs()))
@settings(max_examples=30, deadline=None)
@given(xs=small_lists)
def test_causal_output_equals_output_on_the_prefix(name, xs):
    program = prefix_stable_programs()[name]
    causal = rasp.evaluate(program, xs, causal=True)
    for i in range(len(xs)):
        prefix_value = rasp.evaluate(program, xs[: i + 1])[i]
        assert causal[i] == prefix_value or np.isclose(causal[i], prefix_value)


def test_causal_differs_for_programs_that_look_ahead():
    # Sorting reads later positions; under causal evaluation it sees only the prefix.
    program = lib.make_sort_unique(T, T)
    assert rasp.evaluate(program, [3, 1, 2]) == [1, 2, 3]
    assert rasp.evaluate(program, [3, 1, 2], causal=True) != [1, 2, 3]


def test_causal_is_keyword_only():
    with pytest.raises(TypeError):
        rasp.evaluate(T, [1], True)  # type: ignore[misc]


def test_all_small_inputs_agree_causally_for_a_composite():
    program = lib.make_pair_balance(T, 1, 0)
    for n in range(1, 5):
        for xs in itertools.product([0, 1, 2], repeat=n):
            xs = list(xs)
            causal = rasp.evaluate(program, xs, causal=True)
            assert np.allclose(causal, [rasp.evaluate(program, xs[: i + 1])[i] for i in range(n)])


# ---------------------------------------------------------------- one arithmetic for means


def _prefix_mean_of(value_of: dict) -> rasp.SOp:
    v = rasp.numerical(rasp.Map(lambda t: value_of[t], rasp.tokens))
    prefix = rasp.Select(rasp.indices, rasp.indices, rasp.Comparison.LEQ)
    return rasp.numerical(rasp.Aggregate(prefix, v, default=0))


def test_mean_is_the_exact_fraction_rounded_once():
    """Issue 13: summing floats made the mean of three 0.2s 0.20000000000000004."""
    mean = _prefix_mean_of({"b": 0.2})
    assert sum([0.2, 0.2, 0.2]) / 3 != 0.2  # what float summing gives
    assert rasp.evaluate(mean, ["b", "b", "b"]) == [0.2, 0.2, 0.2]
    assert rasp.evaluate(rasp.Map(lambda x: x > 0.2, mean), ["b"] * 3) == [False] * 3
    assert rasp.evaluate(rasp.Map(lambda x: x == 0.2, mean), ["b"] * 3) == [True] * 3
    same = rasp.Select(mean, rasp.Full(0.2), rasp.Comparison.EQ)
    assert rasp.evaluate(rasp.SelectorWidth(same), ["b"] * 3) == [3, 3, 3]


def test_mean_rounds_once_the_other_way_too():
    """The exact mean of 0.1, 2.2, 0.05, 0.05 lies above 0.6; float summing lands on it."""
    mean = _prefix_mean_of({"a": 0.1, "b": 2.2, "c": 0.05})
    xs = ["a", "b", "c", "c"]
    exact = float(sum(Fraction(v) for v in (0.1, 2.2, 0.05, 0.05)) / 4)
    assert (0.1 + 2.2 + 0.05 + 0.05) / 4 == 0.6 < exact
    assert rasp.evaluate(mean, xs)[-1] == exact
    assert rasp.evaluate(rasp.Map(lambda x: x > 0.6, mean), xs)[-1] is True


def test_integer_means_are_exact_at_any_size():
    big = 2**60 + 1  # past float precision, so int64 sums would overflow and floats round
    mean = _prefix_mean_of({"x": big, "y": 1})
    got = rasp.evaluate(mean, ["x", "x", "y"])
    assert got == [big, (2 * big) / 2, (2 * big + 1) / 3]  # int / int: correctly rounded
    assert rasp.evaluate(_prefix_mean_of({"t": True, "f": False}), ["t", "f", "t"]) == [
        True,
        0.5,
        2 / 3,
    ]


def test_compiled_mean_agrees_with_the_evaluator_on_the_issue_examples():
    import compiler

    for value_of, xs, threshold in (
        ({"b": 0.2}, ["b", "b", "b"], 0.2),
        ({"a": 0.1, "b": 2.2, "c": 0.05}, ["a", "b", "c", "c"], 0.6),
    ):
        program = rasp.Map(lambda x, t=threshold: x > t, _prefix_mean_of(value_of))
        model = compiler.compile_rasp_to_model(program, set(value_of), len(xs))
        assert model.run_batch([xs])[0] == rasp.evaluate(program, xs), value_of
