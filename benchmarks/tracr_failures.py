"""What Tracr gets wrong or cannot compile, and what raspc does with the same program.

Each case is built through both APIs from one function of the rasp module (raspc's
names mirror Tracr's), compiled by both, and run on random inputs; outputs are
compared with raspc's reference evaluator (the RASP semantics).

    python benchmarks/tracr_failures.py [--inputs 200]

Verdicts: right (every output matches), wrong (some output differs, silently),
refused (a compile-time error that says the program is unsupported), crash (any other
exception, at compile or run time).
"""

from __future__ import annotations

import argparse
import random
import warnings
from collections.abc import Callable
from typing import Any

import compiler
import rasp
from models.verification import values_match

Case = tuple[str, str, Callable[[Any], Any], list, int, bool]


def _frac(r: Any, token: Any) -> Any:
    bools = r.numerical(r.Map(lambda x: 1 if x == token else 0, r.tokens))
    return r.numerical(
        r.Aggregate(r.Select(r.indices, r.indices, r.Comparison.LEQ), bools, default=0)
    )


def _length(r: Any) -> Any:
    return r.SelectorWidth(r.Select(r.tokens, r.tokens, r.Comparison.TRUE))


def _reverse(r: Any) -> Any:
    opp = r.SequenceMap(lambda n, i: n - i - 1, _length(r), r.indices)
    return r.Aggregate(r.Select(r.indices, opp, r.Comparison.EQ), r.tokens)


def _sort_unique(r: Any) -> Any:
    smaller = r.SelectorWidth(r.Select(r.tokens, r.tokens, r.Comparison.LT))
    return r.Aggregate(r.Select(smaller, r.indices, r.Comparison.EQ), r.tokens)


def _cases() -> list[Case]:
    """(name, Tracr issue, program builder, vocab, max_seq_len, causal)."""
    abc = ["a", "b", "c"]
    return [
        (
            "shift_by(1): None at position 0",
            "#25 None becomes a token",
            lambda r: r.Aggregate(
                r.Select(r.indices, r.indices, lambda k, q: k == q - 1), r.tokens
            ),
            abc,
            5,
            False,
        ),
        (
            "numerical 1 - 3x",
            "PR #13 negative outputs clipped",
            lambda r: r.numerical(
                r.Map(lambda x: 1 - 3 * x, r.numerical(r.Map(lambda t: t, r.tokens)))
            ),
            [0, 1, 2],
            5,
            False,
        ),
        (
            "hist at length 64",
            "#7 selector width on long inputs",
            lambda r: r.SelectorWidth(r.Select(r.tokens, r.tokens, r.Comparison.EQ)),
            list(range(4)),
            64,
            False,
        ),
        (
            "width of Select & Select",
            "#4 composite selectors",
            lambda r: r.SelectorWidth(
                r.Select(r.tokens, r.tokens, r.Comparison.EQ)
                & r.Select(r.indices, r.indices, r.Comparison.LT)
            ),
            abc,
            5,
            False,
        ),
        (
            "width of Select | Select (same SOps)",
            "#4 composite selectors",
            lambda r: r.SelectorWidth(
                r.Select(r.tokens, r.tokens, r.Comparison.LT)
                | r.Select(r.tokens, r.tokens, r.Comparison.GT)
            ),
            [1, 2, 3],
            5,
            False,
        ),
        (
            "width of Select | Select (different SOps)",
            "#4 composite selectors",
            lambda r: r.SelectorWidth(
                r.Select(r.tokens, r.tokens, r.Comparison.EQ)
                | r.Select(r.indices, r.indices, r.Comparison.LT)
            ),
            abc,
            5,
            False,
        ),
        (
            "previous token, default 'start'",
            "categorical Aggregate default",
            lambda r: r.Aggregate(
                r.Select(r.indices, r.indices, lambda k, q: k == q - 1), r.tokens, default="start"
            ),
            abc,
            5,
            False,
        ),
        (
            "width of ~Select",
            "#4 composite selectors",
            lambda r: r.SelectorWidth(~r.Select(r.tokens, r.tokens, r.Comparison.EQ)),
            abc,
            5,
            False,
        ),
        ("reverse, causal=True", "#19 causal models disagree", _reverse, abc, 5, True),
        (
            "frac_prevs > 0.5",
            "numerical MLP accuracy",
            lambda r: r.Map(lambda f: f > 0.5, _frac(r, "a")),
            abc,
            8,
            False,
        ),
        ("reverse at length 20", "attention not hard enough", _reverse, list(range(20)), 20, False),
        (
            "sort_unique at length 20",
            "attention not hard enough",
            _sort_unique,
            list(range(20)),
            20,
            False,
        ),
        (
            "mean of values {-2, 0.5, 4}",
            "numerical Aggregate of non-0/1 values",
            lambda r: r.numerical(
                r.Aggregate(
                    r.Select(r.indices, r.indices, r.Comparison.LEQ),
                    r.numerical(r.Map(lambda t: {0: -2, 1: 0.5, 2: 4}[t], r.tokens)),
                    default=0,
                )
            ),
            [0, 1, 2],
            5,
            False,
        ),
        (
            "frac_a * frac_b (numerical SequenceMap)",
            "non-linear numerical SequenceMap",
            lambda r: r.numerical(r.SequenceMap(lambda x, y: x * y, _frac(r, "a"), _frac(r, "b"))),
            abc,
            5,
            False,
        ),
        (
            "categorical(round(4 * frac)) -> numerical",
            "Maps between encodings",
            lambda r: r.numerical(
                r.Map(lambda q: q / 4, r.Map(lambda f: round(4 * f), _frac(r, "a")))
            ),
            abc,
            6,
            False,
        ),
    ]


def _inputs(vocab: list, n: int, count: int) -> list[list]:
    rng = random.Random(0)
    return [[rng.choice(vocab) for _ in range(rng.randint(1, n))] for _ in range(count)]


def _verdict(run: Callable[[list], list], inputs: list, expected: list) -> str:
    wrong = 0
    for xs, want in zip(inputs, expected):
        got = run(xs)
        if len(got) != len(want) or not all(values_match(a, b) for a, b in zip(want, got)):
            wrong += 1
    return "right" if not wrong else f"wrong ({wrong}/{len(inputs)} inputs)"


def _raspc(build, vocab, n, causal, inputs, expected) -> str:
    try:
        model = compiler.compile_rasp_to_model(build(rasp), set(vocab), n, causal=causal)
    except rasp.UnsupportedProgramError as err:
        return "refused: " + err.problems[0][1].split(";")[0][:60]
    outs = model.run_batch(inputs)
    return _verdict(lambda xs: outs[inputs.index(xs)], inputs, expected)


def _tracr(build, vocab, n, causal, inputs, expected) -> str:
    from tracr.compiler import compiling
    from tracr.rasp import rasp as trasp

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = compiling.compile_rasp_to_model(
                build(trasp),
                vocab=set(vocab),
                max_seq_len=n,
                causal=causal,
                compiler_bos="compiler_bos",
            )
    except NotImplementedError as err:
        return "refused: " + " ".join(str(err).split())[:60]
    except Exception as err:  # anything else is a crash, reported by its type
        return f"crash at compile ({type(err).__name__})"
    try:
        return _verdict(lambda xs: model.apply(["compiler_bos", *xs]).decoded[1:], inputs, expected)
    except Exception as err:
        return f"crash at run ({type(err).__name__})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=200)
    args = parser.parse_args()
    print(f"{'program':<42} {'Tracr issue':<40} {'Tracr':<38} raspc")
    for name, issue, build, vocab, n, causal in _cases():
        inputs = _inputs(vocab, n, args.inputs)
        program = build(rasp)
        expected = [rasp.evaluate(program, xs) for xs in inputs]  # what the program means
        theirs = _tracr(build, vocab, n, causal, inputs, expected)
        ours = _raspc(build, vocab, n, causal, inputs, expected)
        print(f"{name:<42} {issue:<40} {theirs:<38} {ours}", flush=True)


if __name__ == "__main__":
    main()
