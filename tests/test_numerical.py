"""Numerical generality: exact staircase MLPs (no accuracy knob), negative and fractional
outputs, means of arbitrary values, non-linear SequenceMaps over numerical inputs, and
Maps between the encodings in both directions."""

from __future__ import annotations

import rasp
from rasp import Comparison
from tests.helpers import assert_compiles_exactly

NUMS = {1, 2, 3}


def num(sop):
    return rasp.numerical(sop)


def frac_of(token):
    bools = num(rasp.Map(lambda x: x == token, rasp.tokens)).named(f"is_{token}")
    prevs = rasp.Select(rasp.indices, rasp.indices, Comparison.LEQ)
    return num(rasp.Aggregate(prevs, bools, default=0)).named(f"frac_{token}")


def test_threshold_of_prefix_fraction_tracr_gets_wrong():
    assert_compiles_exactly(rasp.Map(lambda f: f > 0.5, frac_of("a")).named("gt"), {"a", "b"}, 8)


def test_negative_and_fractional_numerical_outputs():
    out = num(rasp.Map(lambda f: -2.5 * f + 0.25, frac_of("a"))).named("affine")
    assert_compiles_exactly(out, {"a", "b"}, 7)
    out = num(rasp.Map(lambda f: -((f - 0.5) ** 2), frac_of("a"))).named("parabola")
    assert_compiles_exactly(out, {"a", "b"}, 7)


def test_sequence_map_numerical_with_categorical():
    out = rasp.SequenceMap(lambda f, t: f"{t}{f > 0.4}", frac_of("a"), rasp.tokens)
    assert_compiles_exactly(out.named("label"), {"a", "b"}, 6)
    flipped = num(rasp.SequenceMap(lambda i, f: i * f, rasp.indices, frac_of("a")))
    assert_compiles_exactly(flipped.named("scaled"), {"a", "b"}, 6)


def test_sequence_map_both_numerical():
    out = num(rasp.SequenceMap(lambda x, y: x * y - y, frac_of("a"), frac_of("b")))
    model = assert_compiles_exactly(out.named("product"), {"a", "b", "c"}, 5)
    assert model.model_config.num_layers == 3  # fractions, categorical copy, product
    fa = frac_of("a")
    same = rasp.SequenceMap(lambda x, y: x + y > 1, fa, fa)
    assert_compiles_exactly(same.named("same"), {"a", "b"}, 5)


def test_numerical_to_categorical_and_back():
    cat = rasp.Map(lambda f: round(f * 4), frac_of("a")).named("quarters")
    back = num(rasp.Map(lambda q: q / 4, cat)).named("back")
    assert_compiles_exactly(back, {"a", "b"}, 6)


def test_mean_of_arbitrary_values_then_numerical_map():
    weights = num(rasp.Map(lambda t: {1: -3, 2: 0.5, 3: 7}[t], rasp.tokens)).named("w")
    mean = num(rasp.Aggregate(rasp.Select(rasp.tokens, rasp.tokens, Comparison.LEQ), weights, 0))
    assert_compiles_exactly(rasp.Map(lambda m: m > 1, mean.named("mean")).named("pos"), NUMS, 5)


def test_aggregates_with_a_default_write_it_where_nothing_is_selected():
    # Tracr's signature allows a default; the head also reads ``one`` into a flag that is
    # 1 wherever a key is selected, and an MLP writes the default where it is 0, so a
    # selected None stays None
    prev = rasp.Select(rasp.indices, rasp.indices, lambda k, q: k == q - 1)
    maybe = rasp.Map(lambda t: None if t == "c" else t, rasp.tokens)
    picked = rasp.Aggregate(prev, maybe, default="start").named("prev_or_start")
    assert rasp.evaluate(picked, ["c", "c", "a"]) == ["start", None, None]
    assert_compiles_exactly(picked, {"a", "b", "c"}, 5)
    ones = rasp.numerical(rasp.Map(lambda t: 1 if t == "a" else 0, rasp.tokens))
    mean = rasp.numerical(rasp.Aggregate(prev, ones, default=-2.5)).named("prev_mean")
    assert_compiles_exactly(mean, {"a", "b"}, 5)
