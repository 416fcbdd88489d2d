"""What the compiler refuses, it refuses at compile time, naming the expression, the
reason and a fix; bad arguments and bad model inputs get clear errors too."""

from __future__ import annotations

import pytest

import compiler
import rasp
from rasp import Comparison
from tests.helpers import assert_compiles_exactly

NUMS = {1, 2, 3}


def refusal(program, vocab=NUMS, max_seq_len=4) -> rasp.UnsupportedProgramError:
    with pytest.raises(rasp.UnsupportedProgramError) as info:
        compiler.compile_rasp(program, vocab, max_seq_len)
    err = info.value
    assert isinstance(err, rasp.RaspcError) and isinstance(err, ValueError)
    return err


def test_numerical_select_input_is_refused_with_a_fix():
    keys = rasp.numerical(rasp.Map(lambda x: x, rasp.tokens)).named("numkeys")
    sel = rasp.Select(keys, rasp.tokens, Comparison.EQ).named("sel")
    err = refusal(rasp.Aggregate(sel, rasp.tokens).named("agg"))
    assert err.problems[0][0] == "sel"
    assert "numkeys" in str(err) and "rasp.categorical" in str(err)


def test_numerical_aggregate_needs_a_numeric_default_and_numbers():
    sel = rasp.Select(rasp.tokens, rasp.tokens, Comparison.EQ)
    bools = rasp.numerical(rasp.Map(lambda x: x == 1, rasp.tokens))
    err = refusal(rasp.numerical(rasp.Aggregate(sel, bools, default="none")).named("mean1"))
    assert "mean1" in str(err) and "number as its default" in str(err)
    words = rasp.Map(lambda x: "w" + str(x), rasp.tokens)
    err = refusal(rasp.numerical(rasp.Aggregate(sel, words, default=0)).named("mean_words"))
    assert "mean_words" in str(err) and "non-numeric" in str(err)


def test_categorical_aggregate_of_numerical_sop_is_refused():
    sel = rasp.Select(rasp.tokens, rasp.tokens, Comparison.EQ)
    value = rasp.numerical(rasp.Map(lambda x: x, rasp.tokens))
    err = refusal(rasp.Aggregate(sel, value).named("mixed"))
    assert "mixed" in str(err) and "numerical" in str(err)


def test_numerical_sop_with_non_numbers_is_refused():
    err = refusal(rasp.numerical(rasp.Map(lambda x: str(x), rasp.tokens)).named("strs"))
    assert err.problems[0][0] == "strs" and "non-numeric" in err.problems[0][1]


def test_numerical_input_with_too_many_values_is_refused():
    x = rasp.numerical(rasp.Map(lambda v: v * v * 1.0001 + 1 / (v + 2), rasp.tokens)).named("x")
    mean = rasp.numerical(
        rasp.Aggregate(rasp.Select(rasp.indices, rasp.indices, Comparison.LEQ), x, 0)
    ).named("mean")
    err = refusal(
        rasp.Map(lambda v: v > 1, mean).named("above"), vocab=set(range(40)), max_seq_len=12
    )
    assert err.problems[0][0] in {"above", "mean"}
    assert "too large to list" in str(err) or "too close" in str(err)


def test_or_across_numerical_sop_pairs_is_refused_with_a_fix():
    # categorical SOps are paired (tests/test_selector_combinators.py); numerical ones
    # cannot be a Select's keys in the first place
    frac = rasp.numerical(rasp.Map(lambda t: t / 2, rasp.tokens)).named("half")
    a = rasp.Select(frac, rasp.tokens, Comparison.EQ)
    b = rasp.Select(rasp.indices, rasp.indices, Comparison.LT)
    err = refusal(rasp.SelectorWidth((a | b).named("either")).named("w"))
    (_, keys_reason), (either, pair_reason) = err.problems
    assert "'half' is numerical" in keys_reason
    assert either == "either" and "only categorical" in pair_reason


def test_constant_selector_is_refused():
    sel = rasp.ConstantSelector([[True]])
    err = refusal(rasp.Aggregate(sel, rasp.tokens).named("c"))
    assert "ConstantSelector" in str(err)


def test_every_problem_is_reported_at_once():
    sel = rasp.Select(rasp.tokens, rasp.tokens, Comparison.EQ)
    numbers = rasp.numerical(rasp.Map(lambda x: x, rasp.tokens))
    a = rasp.Aggregate(sel, numbers).named("first")  # categorical, of a numerical SOp
    b = rasp.numerical(rasp.Map(lambda x: str(x), a)).named("second")
    err = refusal(b)
    assert [label for label, _ in err.problems] == ["first", "second"]


def test_duplicate_names_get_distinct_labels():
    """Names are for people (issue 12): the first in traversal order keeps the name."""
    a = rasp.Map(lambda x: x + 1, rasp.tokens).named("x")
    b = rasp.Map(lambda x: x + 2, rasp.tokens).named("x")
    compiled = compiler.compile_rasp(rasp.SequenceMap(lambda p, q: p + q, a, b), NUMS, 3)
    assert {"x", "x_2"} <= set(compiled.graph.order)
    assert compiled.graph.expr("x").f is a.f and compiled.graph.expr("x_2").f is b.f


def test_close_numerical_values_are_judged_by_the_staircase_precision_estimate():
    # Values 1e-7 apart were refused by a global gap rule; float32 carries this staircase
    # (its own precision estimate says so, and the model is exact).  Steps float32 cannot
    # carry are refused by that estimate: see test_regressions' staircase tests.
    x = rasp.numerical(rasp.Map(lambda v: v * 1e-7, rasp.tokens)).named("small")
    assert_compiles_exactly(rasp.Map(lambda v: v > 0, x).named("tiny"), NUMS, 4)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"vocab": set()}, "vocab is empty"),
        ({"vocab": "abc"}, "vocab must be a set"),
        ({"max_seq_len": 0}, "max_seq_len"),
        ({"vocab": {"compiler_bos", "a"}}, "compiler_bos"),
        ({"vocab": {None, 1}}, "None"),
    ],
)
def test_bad_arguments(kwargs, match):
    args = {"program": rasp.tokens + 1, "vocab": NUMS, "max_seq_len": 3, **kwargs}
    if kwargs.get("vocab") == {"compiler_bos", "a"}:
        args["program"] = rasp.Map(lambda x: x, rasp.tokens)
    with pytest.raises(rasp.RaspcError, match=match):
        compiler.compile_rasp(**args)


def test_program_must_be_an_sop():
    sel = rasp.Select(rasp.tokens, rasp.tokens, Comparison.EQ)
    with pytest.raises(rasp.RaspcTypeError, match="must be an SOp"):
        compiler.compile_rasp(sel, NUMS, 3)


def test_model_input_errors():
    model = compiler.compile_rasp_to_model((rasp.tokens + 1).named("inc"), NUMS, 3)
    with pytest.raises(rasp.RaspcValueError, match="start with the BOS"):
        model.apply([1, 2])
    with pytest.raises(rasp.RaspcValueError, match="not in the vocabulary"):
        model.apply(["compiler_bos", 7])
    with pytest.raises(rasp.RaspcValueError, match="at most 3"):
        model.apply(["compiler_bos", 1, 1, 1, 1])


def test_deep_programs_compile_without_recursion():
    sop = rasp.tokens
    for i in range(600):
        sop = rasp.Map(lambda x: (x + 1) % 3, sop, simplify=False).named(f"step{i}")
    compiled = compiler.compile_rasp(sop, {0, 1, 2}, 2)
    assert compiled.config.num_layers == 600
    assert compiled.graph.graph.number_of_nodes() == 601
