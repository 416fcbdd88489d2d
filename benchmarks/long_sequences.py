"""Every library program at a long max_seq_len: compile, then compare the model with the
evaluator on seeded random inputs of every length.

    python benchmarks/long_sequences.py [--max-seq-len 64] [--inputs 500] [names...]

Prints one line per program (compile seconds, verify seconds, shape, inputs
checked, mismatches) and a final ``programs P, exact E`` line.
"""

from __future__ import annotations

import argparse
import time

import compiler
from models.verification import input_space, verify
from rasp.lib import LIBRARY


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="library programs (default: all)")
    parser.add_argument("--max-seq-len", type=int, default=64)
    parser.add_argument("--inputs", type=int, default=500)
    args = parser.parse_args()
    n = args.max_seq_len
    exact = 0
    names = args.names or sorted(LIBRARY)
    for name in names:
        entry = LIBRARY[name]
        start = time.perf_counter()
        model = compiler.compile_rasp_to_model(entry.build(n), set(entry.vocab), n)
        compiled = time.perf_counter() - start
        inputs = input_space(sorted(entry.vocab, key=repr), n, samples=args.inputs, seed=1)
        start = time.perf_counter()
        report = verify(model, inputs, intermediates=False)
        c = model.model_config
        exact += report.ok
        print(
            f"{name:<18} compile {compiled:6.2f}s  verify {time.perf_counter() - start:6.2f}s  "
            f"layers {c.num_layers} heads {c.num_heads} d_model {c.d_model} mlp "
            f"{c.mlp_hidden_size}  inputs {report.checked}  mismatches {len(report.failures)}",
            flush=True,
        )
    print(f"programs {len(names)}, exact {exact}")


if __name__ == "__main__":
    main()
