"""causal=True gives a left-to-right model, or refuses a program that looks ahead."""

from __future__ import annotations

import pytest

import compiler
import rasp
from rasp import Comparison
from tests.helpers import assert_compiles_exactly

CHARS = {"a", "b", "c"}
prevs = rasp.Select(rasp.indices, rasp.indices, Comparison.LEQ)


def test_prefix_programs_compile_causally_and_match():
    bools = rasp.numerical(rasp.Map(lambda x: x == "a", rasp.tokens))
    frac = rasp.numerical(rasp.Aggregate(prevs, bools, default=0)).named("frac")
    assert_compiles_exactly(frac, CHARS, 5, causal=True)
    seen = rasp.SelectorWidth(prevs & rasp.Select(rasp.tokens, rasp.tokens, Comparison.EQ))
    assert_compiles_exactly(seen.named("seen_before"), CHARS, 5, causal=True)
    prev = rasp.Aggregate(
        rasp.Select(rasp.indices, rasp.indices, lambda k, q: k == q - 1), rasp.tokens
    )
    assert_compiles_exactly(prev.named("prev_token"), CHARS, 5, causal=True)


def test_causal_in_fact_but_not_provably_is_accepted():
    never = rasp.SelectorWidth(rasp.Select(rasp.tokens, rasp.tokens, Comparison.FALSE))
    assert_compiles_exactly(never.named("zero"), CHARS, 4, causal=True)


@pytest.mark.parametrize(
    "name, build",
    [
        (
            "reverse",
            lambda: rasp.Aggregate(
                rasp.Select(
                    rasp.indices, (rasp.length - rasp.indices - 1).named("opp"), Comparison.EQ
                ),
                rasp.tokens,
            ),
        ),
        ("hist", lambda: rasp.SelectorWidth(rasp.Select(rasp.tokens, rasp.tokens, Comparison.EQ))),
        (
            "next_token",
            lambda: rasp.Aggregate(
                rasp.Select(rasp.indices, rasp.indices, lambda k, q: k == q + 1), rasp.tokens
            ),
        ),
    ],
)
def test_lookahead_is_refused_with_a_counterexample(name, build):
    with pytest.raises(rasp.UnsupportedProgramError, match="depends on later positions") as info:
        compiler.compile_rasp(build().named(name), CHARS, 4, causal=True)
    assert info.value.problems[0][0] == name
    assert "on input" in str(info.value) and "causal=False" in str(info.value)
