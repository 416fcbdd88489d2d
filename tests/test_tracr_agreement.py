"""Our evaluator against Tracr's, on the same programs built through both APIs.

Library programs: for every program Tracr's ``lib`` has, ours and theirs are
built with the same arguments and evaluated on the same random inputs.
Primitive programs: one builder takes the RASP module as an argument, so the
very same program text is built once with ``rasp`` and once with Tracr's.

Values are compared as Python compares them (``1 == 1.0 == True``), floats to
tolerance.  The known, deliberate differences are pinned down at the end.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

import rasp
from rasp import lib

trasp = pytest.importorskip("tracr.rasp.rasp")
tlib = pytest.importorskip("tracr.compiler.lib")

ABC = ("a", "b", "c")
INTS = (1, 2, 3, 4)


def random_inputs(vocab: tuple, seed: str, count: int = 40, max_len: int = 6) -> list[list]:
    rng = random.Random(seed)
    return [[rng.choice(vocab) for _ in range(rng.randint(1, max_len))] for _ in range(count)]


def distinct_inputs(vocab: tuple, seed: str, count: int = 40) -> list[list]:
    """Inputs without repeated tokens (for sorts that need unique keys)."""
    rng = random.Random(seed)
    return [rng.sample(vocab, rng.randint(1, len(vocab))) for _ in range(count)]


# name -> (build ours or theirs from (rasp module, lib module), vocab, inputs maker)
LIB_CASES: dict[str, tuple[Callable, tuple, Callable[[tuple, str], list[list]]]] = {
    "length": (lambda r, L: L.make_length(), ABC, random_inputs),
    "reverse": (lambda r, L: L.make_reverse(r.tokens), ABC, random_inputs),
    "hist": (lambda r, L: L.make_hist(), ABC, random_inputs),
    "sort_unique": (lambda r, L: L.make_sort_unique(r.tokens, r.tokens), INTS, distinct_inputs),
    "sort_unique_repeats": (
        lambda r, L: L.make_sort_unique(r.tokens, r.tokens),
        INTS,
        random_inputs,
    ),
    "sort": (
        lambda r, L: L.make_sort(r.tokens, r.tokens, max_seq_len=6, min_key=1),
        INTS,
        random_inputs,
    ),
    "sort_by_other_keys": (
        lambda r, L: L.make_sort(
            r.Map(lambda x: x * 10, r.tokens), r.tokens, max_seq_len=6, min_key=1
        ),
        INTS,
        random_inputs,
    ),
    "sort_freq": (lambda r, L: L.make_sort_freq(6), ABC, random_inputs),
    "frac_prevs": (lambda r, L: L.make_frac_prevs(r.tokens == "a"), ABC, random_inputs),
    "pair_balance": (
        lambda r, L: L.make_pair_balance(r.tokens, "(", ")"),
        ("(", ")", "x"),
        random_inputs,
    ),
    "shuffle_dyck1": (lambda r, L: L.make_shuffle_dyck(["()"]), ("(", ")"), random_inputs),
    "shuffle_dyck2": (lambda r, L: L.make_shuffle_dyck2(), ("(", ")", "{", "}"), random_inputs),
    "shuffle_dyck3": (
        lambda r, L: L.make_shuffle_dyck(["()", "{}", "[]"]),
        ("(", ")", "{", "}", "[", "]"),
        random_inputs,
    ),
    "shift_by_1": (lambda r, L: L.shift_by(1, r.tokens), ABC, random_inputs),
    "shift_by_3": (lambda r, L: L.shift_by(3, r.tokens), ABC, random_inputs),
    "detect_pattern": (lambda r, L: L.detect_pattern(r.tokens, "ab"), ABC, random_inputs),
    "detect_pattern_3": (lambda r, L: L.detect_pattern(r.tokens, "aba"), ABC, random_inputs),
    "count_less_freq": (lambda r, L: L.make_count_less_freq(2), ABC, random_inputs),
    "count": (lambda r, L: L.make_count(r.tokens, "b"), ABC, random_inputs),
    "nary_sequencemap": (
        lambda r, L: L.make_nary_sequencemap(
            lambda a, b, c: a * 100 + b * 10 + c, r.tokens, r.indices, r.tokens
        ),
        INTS,
        random_inputs,
    ),
}


def test_every_tracr_lib_program_is_covered():
    tracr_programs = {
        name
        for name in dir(tlib)
        if (name.startswith("make_") or name in ("shift_by", "detect_pattern"))
        and callable(getattr(tlib, name))
    }
    for name in tracr_programs:
        assert hasattr(lib, name), f"rasp.lib lacks Tracr's {name}"


@pytest.mark.parametrize("case", sorted(LIB_CASES))
def test_library_program_agrees_with_tracr(case, same):
    build, vocab, make_inputs = LIB_CASES[case]
    ours, theirs = build(rasp, lib), build(trasp, tlib)
    for xs in make_inputs(vocab, case):
        got, want = rasp.evaluate(ours, xs), trasp.evaluate(theirs, xs)
        assert same(got, want), f"{case} on {xs}: ours {got}, Tracr {want}"


def test_balanced_bracket_strings_agree_with_tracr(same):
    ours, theirs = lib.make_shuffle_dyck2(), tlib.make_shuffle_dyck2()
    for xs in (list("({)}"), list("(){}"), list("({})"), list("(()"), list("}{"), list("()")):
        assert same(rasp.evaluate(ours, xs), trasp.evaluate(theirs, xs)), xs


# ---------------------------------------------------------------- primitive programs


def primitive_programs(r) -> dict[str, object]:
    """The same program text, built with whichever RASP module ``r`` is."""
    t, i = r.tokens, r.indices
    cmp = r.Comparison
    prevs = r.Select(i, i, cmp.LEQ)
    one_back = r.Select(i, i, lambda k, q: k == q - 1)
    programs = {
        "map": r.Map(lambda x: x * 3 - 1, t),
        "map_of_map": r.Map(lambda x: x + 1, r.Map(lambda x: x * 2, t)),
        "map_no_simplify": r.Map(lambda x: x + 1, r.Map(lambda x: x * 2, t), simplify=False),
        "sequence_map": r.SequenceMap(lambda x, y: x * 10 + y, t, i),
        "linear_sequence_map": r.LinearSequenceMap(t, i, 2, -3),
        "full": r.SequenceMap(lambda x, y: x + y, r.Full(7), t),
        "length": r.SequenceMap(lambda x, n: x * n, t, r.length),
        "arithmetic": ((t + 1) * 2 - i) / 2,
        "reflected": 10 - t + (3 * i),
        "compare_const": r.SequenceMap(lambda a, b: (a, b), t < 2, t >= 3),
        "bool_ops": (t > 1) & (i < 3) | (t == 4),
        "invert": ~(t == 2),
        "select": r.Select(t, i, cmp.LT),
        "numerical_mean": r.numerical(r.Aggregate(prevs, r.numerical(t * 1), default=0)),
        "categorical_one_key": r.Aggregate(one_back, t),
        "aggregate_default": r.Aggregate(r.Select(t, t, cmp.FALSE), t, default="none"),
        "selector_and": r.SelectorWidth(r.SelectorAnd(prevs, r.Select(t, t, cmp.EQ))),
        "selector_or": r.SelectorWidth(r.SelectorOr(one_back, r.Select(t, i, cmp.GT))),
        "selector_not": r.SelectorWidth(r.SelectorNot(prevs)),
        "custom_predicate": r.SelectorWidth(r.Select(t, t, lambda k, q: (k + q) % 3 == 0)),
    }
    for c in cmp:
        programs[f"width_{c.name}"] = r.SelectorWidth(r.Select(t, i, c))
    return programs


PRIMITIVE_NAMES = sorted(primitive_programs(rasp))


@pytest.mark.parametrize("name", PRIMITIVE_NAMES)
def test_primitive_program_agrees_with_tracr(name, same):
    ours, theirs = primitive_programs(rasp)[name], primitive_programs(trasp)[name]
    for xs in random_inputs(INTS, name, count=30):
        got, want = rasp.evaluate(ours, xs), trasp.evaluate(theirs, xs)
        if isinstance(ours, rasp.Selector):
            assert got == [list(map(bool, row)) for row in want], (name, xs)
        else:
            assert same(got, want), f"{name} on {xs}: ours {got}, Tracr {want}"


def test_constant_programs_agree_with_tracr():
    xs = [1, 2, 3]
    for r in (rasp, trasp):
        assert r.evaluate(r.ConstantSOp([4, 5, 6]), xs) == [4, 5, 6]
    matrix = [[True, False, False], [True, True, False], [False, True, True]]
    ours = rasp.evaluate(rasp.SelectorWidth(rasp.ConstantSelector(matrix)), xs)
    theirs = trasp.evaluate(trasp.SelectorWidth(trasp.ConstantSelector(matrix)), xs)
    assert ours == theirs == [1, 2, 2]


def test_both_check_constant_lengths():
    with pytest.raises(ValueError):
        rasp.evaluate(rasp.ConstantSOp([1, 2]), [1, 2, 3])
    with pytest.raises(ValueError):
        trasp.evaluate(trasp.ConstantSOp([1, 2]), [1, 2, 3])


# ---------------------------------------------------------------- deliberate differences


def test_difference_categorical_aggregate_of_differing_values():
    """Tracr averages the selected numbers; we refuse (a one-hot head cannot average)."""
    xs = [1, 2, 3]
    theirs = trasp.Aggregate(
        trasp.Select(trasp.tokens, trasp.tokens, trasp.Comparison.TRUE), trasp.tokens
    )
    assert trasp.evaluate(theirs, xs) == [2.0, 2.0, 2.0]
    ours = rasp.Aggregate(rasp.Select(rasp.tokens, rasp.tokens, rasp.Comparison.TRUE), rasp.tokens)
    with pytest.raises(rasp.EvaluationError, match="share one value"):
        rasp.evaluate(ours, xs)
    # The numerical spelling gives Tracr's mean.
    assert rasp.evaluate(rasp.numerical(ours.annotated()), xs) == [2.0, 2.0, 2.0]


def test_difference_select_on_none():
    """Tracr's comparisons raise on None; our Select never selects a None key or query."""
    xs = [1, 2, 3]
    ours = rasp.SelectorWidth(
        rasp.Select(lib.shift_by(1, rasp.tokens), rasp.tokens, rasp.Comparison.LEQ)
    )
    assert rasp.evaluate(ours, xs) == [1, 2, 2]
    theirs = trasp.SelectorWidth(
        trasp.Select(tlib.shift_by(1, trasp.tokens), trasp.tokens, trasp.Comparison.LEQ)
    )
    with pytest.raises(ValueError, match="None"):
        trasp.evaluate(theirs, xs)


def test_difference_comparison_operator_between_two_sops():
    """``sop_a == sop_b`` is a position-wise SequenceMap here; Tracr compares to the SOp."""
    xs = [0, 1, 5]
    assert rasp.evaluate(rasp.tokens == rasp.indices, xs) == [True, True, False]
    assert isinstance(rasp.tokens < rasp.indices, rasp.SequenceMap)
    assert isinstance(trasp.tokens < trasp.indices, trasp.Map)  # not position-wise in Tracr


def test_difference_map_fusion_respects_names():
    """Tracr fuses a Map into a named inner Map (dropping its name); we keep named nodes."""
    inner = rasp.Map(lambda x: x + 1, rasp.tokens).named("inner")
    assert rasp.Map(lambda x: x * 2, inner).inner is inner
    tinner = trasp.Map(lambda x: x + 1, trasp.tokens).named("inner")
    assert trasp.Map(lambda x: x * 2, tinner).inner is not tinner


def test_difference_means_are_exact_fractions_rounded_once():
    """Tracr's evaluator sums floats; ours takes the exact mean and rounds once, as the
    compiled model does (issue 13)."""

    def mean_of_point_two(r):
        v = r.numerical(r.Map(lambda t: 0.2, r.tokens))
        prefix = r.Select(r.indices, r.indices, r.Comparison.LEQ)
        return r.numerical(r.Aggregate(prefix, v, default=0))

    xs = ["b", "b", "b"]
    assert trasp.evaluate(mean_of_point_two(trasp), xs)[-1] == 0.20000000000000004
    assert rasp.evaluate(mean_of_point_two(rasp), xs)[-1] == 0.2
