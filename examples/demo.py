"""Demo: compile the library's `sort_unique` and `reverse` into transformers and run them.

Run with `make demo` (or `python examples/demo.py` inside the virtualenv).
"""

from __future__ import annotations

import time

import compiler
import rasp
from models.verification import values_match
from rasp import lib


def _fmt(values: list) -> list:
    return [round(v, 4) if isinstance(v, float) else v for v in values]


def show(name: str, program: rasp.SOp, vocab: set, max_seq_len: int, example: list) -> None:
    start = time.perf_counter()
    model = compiler.compile_rasp_to_model(program, vocab, max_seq_len)
    seconds = time.perf_counter() - start
    cfg = model.model_config
    out = model.apply(["compiler_bos", *example]).decoded[1:]
    expected = rasp.evaluate(program, example)
    print(f"== {name}: compiled in {seconds:.2f} s")
    print(
        f"   model: {cfg.num_layers} layers, {cfg.num_heads} heads per layer, "
        f"d_model {cfg.d_model}, MLP width {cfg.mlp_hidden_size}"
    )
    print(f"   input:     {example}")
    same = all(values_match(e, o) for e, o in zip(expected, out))
    print(f"   model:     {_fmt(out)}")
    print(f"   evaluator: {_fmt(expected)}  ({'match' if same else 'MISMATCH'})")


def main() -> None:
    show(
        "sort_unique",
        lib.make_sort_unique(rasp.tokens, rasp.tokens),
        {1, 2, 3, 4, 5},
        5,
        [4, 1, 5, 2],
    )
    show(
        "reverse", lib.make_reverse(rasp.tokens), {"a", "b", "c", "d"}, 8, list("abcdcba")[::-1][:6]
    )
    show("frac_prevs", lib.make_frac_prevs(rasp.tokens == "x"), {"x", "y"}, 6, list("xyyxx"))


if __name__ == "__main__":
    main()
