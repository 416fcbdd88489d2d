"""Regression tests for compiler bugs that random-program fuzzing found.

Each test is named after the bug, holds the smallest program that showed it
(reduced by hand from the generated one; ``benchmarks/fuzz.py`` prints the
seed's source) and checks every node on every input.
"""

from __future__ import annotations

import pytest

import compiler
import rasp
from rasp.errors import PartialFunctionWarning, UnsupportedProgramError
from tests.helpers import assert_compiles_exactly


def test_categorical_float_value_merged_with_rounding_twin_is_written_to_its_direction():
    # 0 - 5/3 and -1 - 2/3 differ in the last bit; value inference keeps one of them,
    # and the MLP used to write the other to a stray direction (decoded as None).
    x = rasp.Map(lambda t: 0 if t == 0 else -1, rasp.tokens).named("x")  # named: not fused
    y = rasp.Map(lambda i: 5 / 3 if i == 0 else 2 / 3, rasp.indices).named("y")
    program = rasp.SequenceMap(lambda a, b: a - b, x, y)
    model = assert_compiles_exactly(program, {0, 1}, 2)
    labels = [label for label in model.residual_labels if label.startswith(model.layout.output)]
    assert len(labels) == 3  # -8/3, -5/3 (once), -2/3


def test_numerical_mean_of_means_is_not_refused_for_rounding_twins():
    # Means of float means were listed exactly (as Fractions of the rounded floats),
    # so values one ulp apart made the staircase MLP of the Map refuse its input.
    prefix = rasp.Select(rasp.indices, rasp.indices, rasp.Comparison.LEQ)
    tokens = rasp.numerical(rasp.Map(lambda t: t, rasp.tokens))
    means = rasp.numerical(rasp.Aggregate(prefix, tokens, default=0))
    mean_of_means = rasp.numerical(rasp.Aggregate(prefix, means, default=0))
    program = rasp.numerical(rasp.Map(lambda x: x * x, mean_of_means))
    assert_compiles_exactly(program, {1, 5}, 3)


def test_categorical_output_with_unlisted_value_set_is_refused_not_crashed():
    # Nothing read the output, so no rule asked for its value set; building its
    # directions then iterated over None (TypeError).
    program = rasp.SequenceMap(lambda x, y: (x, y), rasp.tokens, rasp.indices).named("pairs")
    with pytest.raises(rasp.UnsupportedProgramError, match="pairs: its set of possible values"):
        compiler.compile_rasp(program, set(range(210)), 100)


def test_mean_of_strings_is_refused_once_without_a_spurious_too_large_problem():
    # The mean of strings has no value set; its reader used to add a second, wrong
    # reason ("too large to list") for the same node.
    select = rasp.Select(rasp.indices, rasp.indices, rasp.Comparison.LEQ)
    mean = rasp.numerical(rasp.Aggregate(select, rasp.tokens, default=0)).named("mean")
    program = rasp.numerical(rasp.Aggregate(select, mean, default=0)).named("mean_of_mean")
    with pytest.raises(rasp.UnsupportedProgramError) as info:
        compiler.compile_rasp(program, {"a", "b"}, 3)
    assert [label for label, _ in info.value.problems] == ["mean"]
    assert "non-numeric" in info.value.problems[0][1]


def test_int_and_its_float_rounding_twin_are_one_value():
    # 1 and 0.1 * 3 / 0.3 == 1.0000000000000002 were kept apart (only floats were
    # merged), so the numerical Map refused an input "2.2e-16 apart".
    near_one = rasp.numerical(
        rasp.Map(lambda i: 1 if i == 0 else 0.1 * 3 / 0.3, rasp.indices).named("near_one")
    )
    program = rasp.numerical(rasp.Map(lambda x: 2 * x, near_one))
    assert_compiles_exactly(program, {"a"}, 3)


def test_separable_sequence_map_of_an_input_with_no_possible_value_compiles():
    # 6 // 0 for every index leaves the Map no possible value; the additive-staircase
    # path of the SequenceMap then indexed an empty table (IndexError).  A function that
    # always raises is refused now; opting in with partial=True still compiles it.
    nothing = rasp.Map(lambda i: 6 // (i - i), rasp.indices).named("nothing")  # not fused
    program = rasp.SequenceMap(lambda x, y: x + y, rasp.tokens, nothing)
    with pytest.raises(UnsupportedProgramError, match="nothing: its function fails on 3"):
        compiler.compile_rasp(program, {1, 2}, 3)
    with pytest.warns(PartialFunctionWarning, match="nothing"):
        model = compiler.compile_rasp_to_model(program, {1, 2}, 3, partial=True)
    assert model.apply(["compiler_bos", 1, 2]).decoded == ["compiler_bos", None, None]


def test_whole_number_whose_float_twin_was_kept_is_written_to_its_direction():
    # 2 * 1 + 3 * 1 == 5 meets 5.0 and 4.999999999999999 from other pairs of means; the
    # value set kept 4.999999999999999 and the MLP wrote 5 to a stray direction (None).
    idx = rasp.numerical(rasp.Map(lambda i: i, rasp.indices)).named("idx")
    prefix = rasp.Select(rasp.indices, rasp.indices, rasp.Comparison.LEQ)
    mean = rasp.numerical(rasp.Aggregate(prefix, idx, default=0)).named("mean")
    program = rasp.LinearSequenceMap(mean, mean, 2, 3).named("combined")
    assert_compiles_exactly(program, {"a"}, 5)


# ------------------------------------------- what the model cannot follow is refused
# Found while fuzzing: programs one residual direction or float32 cannot carry.  They
# used to compile to models that were wrong on some inputs; now they are refused with
# a reason, and the fix the reason gives compiles exactly.


def _refusal(program: rasp.SOp, vocab: set, max_seq_len: int) -> str:
    with pytest.raises(UnsupportedProgramError) as info:
        compiler.compile_rasp(program, vocab, max_seq_len)
    return str(info.value)


def _mixed_bools_and_ints() -> rasp.SOp:
    is_a = rasp.Map(lambda t: t == "a", rasp.tokens)  # True / False
    parity = rasp.Map(lambda i: i % 2, rasp.indices)  # 0 / 1
    return rasp.SequenceMap(lambda x, y: x if y == 0 else y, is_a, parity).named("mixed")


def test_type_sensitive_map_of_equal_bool_and_int_values_is_refused():
    # 1 and True are one member of a value set and one residual direction, but str()
    # tells them apart: the model decoded '1' where the evaluator said 'True'.
    program = rasp.Map(lambda v: str(v), _mixed_bools_and_ints()).named("text")
    message = _refusal(program, {"a", "b"}, 3)
    assert "text" in message and "'True'" in message and "'1'" in message
    # the fix the message gives compiles, exactly
    fixed = rasp.Map(lambda v: str(int(v)), _mixed_bools_and_ints())
    assert_compiles_exactly(fixed, {"a", "b"}, 3)


def test_type_sensitive_map_of_numerical_mean_is_refused():
    # The evaluator's mean is 1 over one selected key and 1.0 over several; one
    # direction holds both, so str() of the mean cannot be compiled.
    every = rasp.Select(rasp.length, rasp.length, rasp.Comparison.GEQ)
    mean = rasp.numerical(rasp.Aggregate(every, rasp.indices, 0)).named("mean")
    message = _refusal(rasp.Map(lambda v: str(v), mean).named("text"), {"b"}, 3)
    assert "text" in message and "1.0" in message
    assert_compiles_exactly(rasp.Map(lambda v: str(float(v)), mean), {"b"}, 3)


def test_predicate_that_tells_bool_from_int_is_refused():
    # A Map read only by a Select is folded into the predicate, so the predicate
    # sees the raw twins: it must not tell them apart either.
    text = rasp.Map(lambda v: str(v), _mixed_bools_and_ints())
    select = rasp.Select(text, text, rasp.Comparison.EQ).named("same_text")
    message = _refusal(rasp.numerical(rasp.Aggregate(select, rasp.indices, 0)), {"a", "b"}, 3)
    assert "same_text" in message and "predicate" in message


def test_map_that_tells_rounding_twins_apart_is_refused():
    # 0 - 5/3 and -1 - 2/3 differ in the last bit and share one direction; a test for
    # equality with -5/3 is true for one of them only.
    x = rasp.Map(lambda t: 0 if t == 0 else -1, rasp.tokens).named("x")
    y = rasp.Map(lambda i: 5 / 3 if i == 0 else 2 / 3, rasp.indices).named("y")
    diff = rasp.SequenceMap(lambda a, b: a - b, x, y).named("diff")
    message = _refusal(rasp.Map(lambda v: v == -5 / 3, diff).named("test"), {0, 1}, 2)
    assert "test" in message and "True" in message and "False" in message
    assert_compiles_exactly(rasp.Map(lambda v: round(v, 6) == round(-5 / 3, 6), diff), {0, 1}, 2)


def test_numerical_map_over_a_wide_range_stays_within_tolerance():
    # 0 ** 2 sat between steps of height ~1e6: the staircase summed them from the
    # lowest input and float32 left -0.125 where the evaluator has 0.  Staircases now
    # start at the input with the smallest output, where every step is exactly zero.
    scaled = rasp.numerical(rasp.Map(lambda x: 1000 * x, rasp.tokens))
    select = rasp.Select(rasp.tokens, rasp.tokens, rasp.Comparison.LEQ)
    mean = rasp.numerical(rasp.Aggregate(select, scaled, default=0))
    assert_compiles_exactly(rasp.numerical(rasp.Map(lambda v: v * v, mean)), {1, -1, 3}, 4)


def test_staircase_float32_cannot_carry_is_refused_with_the_numbers():
    # Steps of 1e6 between fractions 1/56 apart: a float32 MLP may be off by whole
    # units where the output is 0; refused instead of compiled to a model that may be.
    frac = rasp.numerical(
        rasp.Aggregate(
            rasp.Select(rasp.indices, rasp.indices, rasp.Comparison.LEQ),
            rasp.numerical(rasp.Map(lambda t: 1 if t == "x" else 0, rasp.tokens)),
            default=0,
        )
    )
    jumpy = rasp.numerical(rasp.Map(lambda v: 1e6 * (round(v * 2520) % 2), frac)).named("jumpy")
    message = _refusal(jumpy, {"a", "x"}, 8)
    assert "jumpy" in message and "float32" in message and "1e+06" in message
    calm = rasp.numerical(rasp.Map(lambda v: round(v * 2520) % 2, frac))
    assert_compiles_exactly(calm, {"a", "x"}, 8)
