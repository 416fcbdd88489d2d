"""raspc against Tracr, side by side in one process: compile time, model size, exactness,
forward throughput, at vocab size = max_seq_len = 5, 20 and 64 (and 128 for raspc).

    python benchmarks/bench.py [--sizes 5 20 64] [--tracr-max 64] [--inputs 100]

Columns (each "raspc/tracr"): compile seconds and the ratio tracr/raspc; layers,
heads, d_model, MLP width, parameters; exact-match rate against the evaluator on
random inputs of every length; forward throughput in sequences per second
(raspc: batched, jitted ``run_batch``; Tracr: its per-sequence ``apply``).
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

import compiler
import rasp
from models.verification import values_match
from rasp import lib

THROUGHPUT_BATCH = 4096
"""Sequences per timed batched run (mixed lengths)."""

Case = tuple[str, Callable[[int], Any], Callable[[Any, Any, int], Any], Callable[[int], list]]


def _ints(n: int) -> list:
    return list(range(n))


def _cases() -> list[Case]:
    """(name, raspc builder(n), tracr builder(trasp, tlib, n), vocab(n))."""
    return [
        (
            "reverse",
            lambda n: lib.make_reverse(rasp.tokens),
            lambda r, t, n: t.make_reverse(r.tokens),
            _ints,
        ),
        ("hist", lambda n: lib.make_hist(), lambda r, t, n: t.make_hist(), _ints),
        (
            "sort_unique",
            lambda n: lib.make_sort_unique(rasp.tokens, rasp.tokens),
            lambda r, t, n: t.make_sort_unique(r.tokens, r.tokens),
            _ints,
        ),
        (
            "sort",
            lambda n: lib.make_sort(rasp.tokens, rasp.tokens, max_seq_len=n, min_key=0),
            lambda r, t, n: t.make_sort(r.tokens, r.tokens, max_seq_len=n, min_key=0),
            _ints,
        ),
        (
            "frac_prevs",
            lambda n: lib.make_frac_prevs(rasp.tokens == 0),
            lambda r, t, n: t.make_frac_prevs(r.tokens == 0),
            _ints,
        ),
        (
            "count_less_freq",
            lambda n: lib.make_count_less_freq(2),
            lambda r, t, n: t.make_count_less_freq(2),
            _ints,
        ),
        (
            "shift_by",
            lambda n: lib.shift_by(1, rasp.tokens),
            lambda r, t, n: t.shift_by(1, r.tokens),
            _ints,
        ),
        (
            "pair_balance",
            lambda n: lib.make_pair_balance(rasp.tokens, "(", ")"),
            lambda r, t, n: t.make_pair_balance(r.tokens, "(", ")"),
            lambda n: ["(", ")", "x"],
        ),
        (
            "shuffle_dyck2",
            lambda n: lib.make_shuffle_dyck2(),
            lambda r, t, n: t.make_shuffle_dyck2(),
            lambda n: ["(", ")", "{", "}"],
        ),
    ]


def _inputs(vocab: list, n: int, count: int, seed: int = 0) -> list[list]:
    rng = random.Random(seed)
    return [[rng.choice(vocab) for _ in range(rng.randint(1, n))] for _ in range(count)]


def _exact(outputs: list[list], expected: list[list]) -> float:
    good = sum(
        len(e) == len(o) and all(values_match(a, b) for a, b in zip(e, o))
        for e, o in zip(expected, outputs)
    )
    return good / max(1, len(expected))


def _params(params: Any) -> int:
    return int(sum(np.size(a) for module in params.values() for a in module.values()))


def _shape(model: Any) -> tuple:
    c = model.model_config
    return (
        c.num_layers,
        c.num_heads,
        len(model.residual_labels),
        c.mlp_hidden_size,
        _params(model.params),
    )


def _ours(build, vocab, n, inputs, expected) -> dict:
    start = time.perf_counter()
    model = compiler.compile_rasp_to_model(build(n), set(vocab), n)
    seconds = time.perf_counter() - start
    outputs = model.run_batch(inputs)
    many = (inputs * (THROUGHPUT_BATCH // len(inputs) + 1))[:THROUGHPUT_BATCH]
    model.run_batch(many)  # jit warm-up for this shape, excluded from throughput
    start = time.perf_counter()
    model.run_batch(many)
    rate = len(many) / (time.perf_counter() - start)
    return {
        "compile": seconds,
        "shape": _shape(model),
        "exact": _exact(outputs, expected),
        "rate": rate,
    }


def _tracr(build, vocab, n, inputs, expected, per_seq: int) -> dict | str:
    from tracr.compiler import compiling
    from tracr.compiler import lib as tlib
    from tracr.rasp import rasp as trasp

    start = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = compiling.compile_rasp_to_model(
                build(trasp, tlib, n),
                vocab=set(vocab),
                max_seq_len=n,
                compiler_bos="compiler_bos",
            )
    except Exception as exc:  # report Tracr's refusal or crash in the table
        return type(exc).__name__
    seconds = time.perf_counter() - start
    outputs, times = [], []
    for xs in inputs:
        t0 = time.perf_counter()
        try:
            out = model.apply(["compiler_bos", *xs]).decoded[1:]
        except Exception:  # a crash on this input counts as a wrong answer
            out = None
        times.append(time.perf_counter() - t0)
        outputs.append(out if out is not None else [object()] * len(xs))
    rate = 1.0 / statistics.median(times[1 : per_seq + 1] or times)
    return {
        "compile": seconds,
        "shape": _shape(model),
        "exact": _exact(outputs, expected),
        "rate": rate,
    }


def _warm_up() -> None:
    """Compile one tiny program with each system first, so imports and one-time setup
    are not charged to the first program in the table."""
    vocab = [0, 1]
    program = rasp.Map(lambda x: x, rasp.tokens)
    _ours(lambda n: program, vocab, 2, [[0]], [[0]])
    _tracr(lambda r, t, n: r.Map(lambda x: x, r.tokens), vocab, 2, [[0]], [[0]], per_seq=1)


def _cell(a: Any, b: Any, fmt: str = "{}") -> str:
    return f"{fmt.format(a)}/{fmt.format(b) if not isinstance(b, str) else b}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[5, 20, 64])
    parser.add_argument("--tracr-max", type=int, default=64, help="largest size run on Tracr")
    parser.add_argument("--inputs", type=int, default=100, help="random inputs per program")
    parser.add_argument("--only", nargs="*", help="program names to run")
    args = parser.parse_args()
    header = (
        f"{'program':<15} {'n':>3} {'compile s':>13} {'ratio':>6} {'layers':>6} "
        f"{'heads':>5} {'d_model':>9} {'mlp':>11} {'params':>17} {'exact':>9} "
        f"{'seq/s':>13} {'speedup':>7}"
    )
    print("each cell: raspc/tracr; ratio and speedup: tracr time / raspc time")
    print(header)
    print("-" * len(header))
    _warm_up()
    ratios: dict[int, list[float]] = {}
    speedups: list[float] = []
    for name, ours_build, tracr_build, vocab_of in _cases():
        if args.only and name not in args.only:
            continue
        for n in args.sizes:
            vocab = vocab_of(n)
            program = ours_build(n)
            inputs = _inputs(vocab, n, args.inputs)
            expected = [rasp.evaluate(program, xs) for xs in inputs]
            ours = _ours(ours_build, vocab, n, inputs, expected)
            if n <= args.tracr_max:
                theirs = _tracr(tracr_build, vocab, n, inputs, expected, per_seq=20)
            else:
                theirs = "skipped"
            if isinstance(theirs, str):
                shape_t = (theirs,) * 5
                compile_t = exact_t = rate_t = theirs
                ratio = speed = "-"
            else:
                shape_t, compile_t = theirs["shape"], theirs["compile"]
                exact_t, rate_t = theirs["exact"], theirs["rate"]
                r = compile_t / ours["compile"]
                ratios.setdefault(n, []).append(r)
                speedups.append(ours["rate"] / rate_t)
                ratio, speed = f"{r:.0f}x", f"{ours['rate'] / rate_t:.0f}x"
            s = ours["shape"]
            print(
                f"{name:<15} {n:>3} {_cell(ours['compile'], compile_t, '{:.2f}'):>13} "
                f"{ratio:>6} {_cell(s[0], shape_t[0]):>6} {_cell(s[1], shape_t[1]):>5} "
                f"{_cell(s[2], shape_t[2]):>9} {_cell(s[3], shape_t[3]):>11} "
                f"{_cell(s[4], shape_t[4]):>17} {_cell(ours['exact'], exact_t, '{:.2f}'):>9} "
                f"{_cell(ours['rate'], rate_t, '{:.0f}'):>13} {speed:>7}",
                flush=True,
            )
    for n, rs in sorted(ratios.items()):
        print(f"median compile-time ratio tracr/raspc at n={n}: {statistics.median(rs):.0f}x")
    if speedups:
        print(f"median forward throughput ratio raspc/tracr: {statistics.median(speedups):.0f}x")


if __name__ == "__main__":
    main()
