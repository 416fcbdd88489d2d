"""Side by side with DeepMind's Tracr: model shape and compile time per library program.

Each program is built twice, through raspc's library and through Tracr's
(``tracr-pypi``), compiled for the same vocabulary and max_seq_len, and the
table shows layers, heads, d_model, MLP width and parameter count for both.

    python benchmarks/compare_tracr.py [--max-seq-len 5]
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


def _ours(build: Callable[[], Any], vocab: set, n: int) -> tuple[tuple, float]:
    start = time.perf_counter()
    model = compiler.compile_rasp_to_model(build(), vocab, n)
    return _shape(model, model.params), time.perf_counter() - start


def _tracr(build: Callable[[Any, Any], Any], vocab: set, n: int) -> tuple[tuple | str, float]:
    from tracr.compiler import compiling
    from tracr.compiler import lib as tlib
    from tracr.rasp import rasp as trasp

    start = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = compiling.compile_rasp_to_model(
                build(trasp, tlib), vocab=vocab, max_seq_len=n, compiler_bos="compiler_bos"
            )
    except Exception as exc:
        return f"{type(exc).__name__}", time.perf_counter() - start
    return _shape(model, model.params), time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-seq-len", type=int, default=5)
    args = parser.parse_args()
    n = args.max_seq_len
    head = (
        f"{'program':<16} {'layers':>9} {'heads':>7} {'d_model':>9} {'mlp':>9} "
        f"{'params':>15} {'compile s':>13}"
    )
    print(f"raspc / tracr at max_seq_len {n} (each cell: raspc/tracr)")
    print(head)
    print("-" * len(head))
    for name, ours, theirs, vocab in _cases(n):
        (o, o_t) = _ours(ours, vocab, n)
        (t, t_t) = _tracr(theirs, vocab, n)
        if isinstance(t, str):
            t = (t,) * 5
        cells = [f"{a}/{b}" for a, b in zip(o, t)]
        print(
            f"{name:<16} {cells[0]:>9} {cells[1]:>7} {cells[2]:>9} {cells[3]:>9} "
            f"{cells[4]:>15} {o_t:>5.2f}/{t_t:<6.2f}"
        )


if __name__ == "__main__":
    main()
