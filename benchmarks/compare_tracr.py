"""Side by side with DeepMind's Tracr: model shape and compile time per library program.

Each program is built twice, through raspc's library and through Tracr's
(``tracr-pypi``), compiled for the same vocabulary and max_seq_len, and the
table shows layers, heads, d_model, MLP width and parameter count for both.

With ``--generated N`` it also compiles ``N`` random programs from
``rasp.generate`` (one recipe built with both modules) and counts the programs
on which raspc needs more layers, a wider residual stream or more parameters
than Tracr, listing each such program's shapes (the shape-parity check).

    python benchmarks/compare_tracr.py [--max-seq-len 5] [--generated 200 --seed 0]
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

import compiler
import rasp
from rasp import lib


def _cases(n: int) -> list[tuple[str, Callable[[], Any], Callable[[Any, Any], Any], set]]:
    """(name, raspc program builder, tracr builder given (tracr rasp, tracr lib), vocab)."""
    abc = {"a", "b", "c"}
    ints = {1, 2, 3, 4}
    return [
        ("length", lambda: lib.make_length(), lambda r, t: t.make_length(), abc),
        (
            "reverse",
            lambda: lib.make_reverse(rasp.tokens),
            lambda r, t: t.make_reverse(r.tokens),
            abc,
        ),
        ("hist", lambda: lib.make_hist(), lambda r, t: t.make_hist(), abc),
        (
            "sort_unique",
            lambda: lib.make_sort_unique(rasp.tokens, rasp.tokens),
            lambda r, t: t.make_sort_unique(r.tokens, r.tokens),
            ints,
        ),
        (
            "sort",
            lambda: lib.make_sort(rasp.tokens, rasp.tokens, max_seq_len=n, min_key=1),
            lambda r, t: t.make_sort(r.tokens, r.tokens, max_seq_len=n, min_key=1),
            ints,
        ),
        ("sort_freq", lambda: lib.make_sort_freq(n), lambda r, t: t.make_sort_freq(n), abc),
        (
            "frac_prevs",
            lambda: lib.make_frac_prevs(rasp.tokens == "a"),
            lambda r, t: t.make_frac_prevs(r.tokens == "a"),
            abc,
        ),
        (
            "pair_balance",
            lambda: lib.make_pair_balance(rasp.tokens, "(", ")"),
            lambda r, t: t.make_pair_balance(r.tokens, "(", ")"),
            {"(", ")"},
        ),
        (
            "shuffle_dyck1",
            lambda: lib.make_shuffle_dyck(["()"]),
            lambda r, t: t.make_shuffle_dyck(["()"]),
            {"(", ")"},
        ),
        (
            "shuffle_dyck2",
            lambda: lib.make_shuffle_dyck2(),
            lambda r, t: t.make_shuffle_dyck2(),
            {"(", ")", "{", "}"},
        ),
        (
            "count",
            lambda: lib.make_count(rasp.tokens, "a"),
            lambda r, t: t.make_count(r.tokens, "a"),
            abc,
        ),
        (
            "count_less_freq",
            lambda: lib.make_count_less_freq(2),
            lambda r, t: t.make_count_less_freq(2),
            abc,
        ),
        (
            "shift_by",
            lambda: lib.shift_by(1, rasp.tokens),
            lambda r, t: t.shift_by(1, r.tokens),
            abc,
        ),
        (
            "detect_pattern",
            lambda: lib.detect_pattern(rasp.tokens, "abc"),
            lambda r, t: t.detect_pattern(r.tokens, "abc"),
            abc,
        ),
    ]


def _count_params(params: Any) -> int:
    return int(sum(np.size(a) for module in params.values() for a in module.values()))


def _shape(model: Any, params: Any) -> tuple:
    cfg = model.model_config
    width = len(model.residual_labels)
    return cfg.num_layers, cfg.num_heads, width, cfg.mlp_hidden_size, _count_params(params)


def _ours(build: Callable[[], Any], vocab: set, n: int) -> tuple[tuple | str, float]:
    start = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = compiler.compile_rasp_to_model(build(), vocab, n)
    except rasp.RaspcError as exc:
        return f"{type(exc).__name__}", time.perf_counter() - start
    return _shape(model, model.params), time.perf_counter() - start


def _tracr_program(build: Callable[[Any, Any], Any]) -> Callable[[], Any]:
    from tracr.compiler import lib as tlib
    from tracr.rasp import rasp as trasp

    return lambda: build(trasp, tlib)


def _tracr(build: Callable[[], Any], vocab: set, n: int) -> tuple[tuple | str, float]:
    from tracr.compiler import compiling

    start = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = compiling.compile_rasp_to_model(
                build(), vocab=vocab, max_seq_len=n, compiler_bos="compiler_bos"
            )
    except Exception as exc:
        return f"{type(exc).__name__}", time.perf_counter() - start
    return _shape(model, model.params), time.perf_counter() - start


def _row(name: str, o: tuple | str, t: tuple | str, o_t: float, t_t: float) -> str:
    o = (o,) * 5 if isinstance(o, str) else o
    t = (t,) * 5 if isinstance(t, str) else t
    cells = [f"{a}/{b}" for a, b in zip(o, t)]
    return (
        f"{name:<16} {cells[0]:>9} {cells[1]:>7} {cells[2]:>9} {cells[3]:>9} "
        f"{cells[4]:>15} {o_t:>5.2f}/{t_t:<6.2f}"
    )


def _generated(count: int, seed: int) -> None:
    """Shape parity on generated programs: how often raspc is larger than Tracr."""
    from rasp.generate import generate_programs, to_tracr

    both = worse_layers = worse_width = worse_params = refused = tracr_failed = 0
    rows: list[str] = []
    for g in generate_programs(count, seed):
        vocab = set(g.vocab)
        o, o_t = _ours(lambda g=g: g.program, vocab, g.max_seq_len)
        t, t_t = _tracr(lambda g=g: to_tracr(g), vocab, g.max_seq_len)
        refused += isinstance(o, str)
        tracr_failed += isinstance(t, str)
        if isinstance(o, str) or isinstance(t, str):
            continue
        both += 1
        flags = (o[0] > t[0], o[2] > t[2], o[4] > t[4])
        worse_layers, worse_width, worse_params = (
            a + b for a, b in zip((worse_layers, worse_width, worse_params), flags)
        )
        if flags[0] or flags[1]:
            rows.append(_row(f"seed {g.seed}", o, t, o_t, t_t))
    print(f"\ngenerated programs: {count} (seed {seed}); compiled by both: {both}")
    print(f"  raspc refused {refused}, Tracr failed {tracr_failed}")
    print(
        f"  raspc needs more layers on {worse_layers}, a wider stream on {worse_width}, "
        f"more parameters on {worse_params}"
    )
    for row in rows:
        print(row)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-seq-len", type=int, default=5)
    parser.add_argument("--generated", type=int, default=0, help="random programs to add")
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated set")
    parser.add_argument("--no-library", action="store_true", help="skip the library table")
    args = parser.parse_args()
    n = args.max_seq_len
    head = (
        f"{'program':<16} {'layers':>9} {'heads':>7} {'d_model':>9} {'mlp':>9} "
        f"{'params':>15} {'compile s':>13}"
    )
    print(f"raspc / tracr at max_seq_len {n} (each cell: raspc/tracr)")
    print(head)
    print("-" * len(head))
    if not args.no_library:
        for name, ours, theirs, vocab in _cases(n):
            (o, o_t) = _ours(ours, vocab, n)
            (t, t_t) = _tracr(_tracr_program(theirs), vocab, n)
            print(_row(name, o, t, o_t, t_t))
    if args.generated:
        _generated(args.generated, args.seed)


if __name__ == "__main__":
    main()
