"""How compile time, peak memory and parameter count grow with vocabulary size,
max_seq_len and program size.

    python benchmarks/scaling.py [--quick]

Each measurement compiles in a fresh subprocess (``compile_rasp``: numpy only, no
jax), so peak memory (max RSS) belongs to that one compile.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

_CHILD = r"""
import json, resource, sys, time
import rasp
from compiler import compile_rasp
from rasp import lib

name, vocab_size, n, depth = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])

def chain(depth):
    # a SequenceMap-heavy program: depth layers of lookups mixing tokens and indices
    sop = rasp.tokens
    for i in range(depth):
        sop = rasp.SequenceMap(lambda x, y, i=i: (x * 3 + y + i) % vocab_size, sop,
                               rasp.indices).named(f"mix{i}")
    return sop

from rasp.lib import LIBRARY
if name.startswith("lib:"):
    entry = LIBRARY[name[4:]]
    vocab_set = set(entry.vocab)
else:
    vocab_set = set(range(vocab_size))
build = (lambda: LIBRARY[name[4:]].build(n)) if name.startswith("lib:") else {
    "reverse": lambda: lib.make_reverse(rasp.tokens),
    "sort_unique": lambda: lib.make_sort_unique(rasp.tokens, rasp.tokens),
    "hist": lambda: lib.make_hist(),
    "seqmap_chain": lambda: chain(depth),
}[name]
start = time.perf_counter()
compiled = compile_rasp(build(), vocab_set, n)
seconds = time.perf_counter() - start
params = sum(a.size for m in compiled.params.values() for a in m.values())
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
cfg = compiled.config
print(json.dumps({"seconds": seconds, "peak_mb": peak, "params": int(params),
                  "layers": cfg.num_layers, "d_model": cfg.d_model, "mlp": cfg.mlp_hidden_size}))
"""


def _measure(name: str, vocab: int, n: int, depth: int = 1) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, name, str(vocab), str(n), str(depth)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _row(label: str, r: dict) -> str:
    return (
        f"{label:<34} {r['seconds']:>8.3f} {r['peak_mb']:>9.0f} {r['params']:>12,} "
        f"{r['layers']:>6} {r['d_model']:>8} {r['mlp']:>8}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer, smaller points")
    parser.add_argument(
        "--library",
        type=int,
        metavar="N",
        help="instead: compile every library program at max_seq_len N (peak memory per program)",
    )
    args = parser.parse_args()
    if args.library:
        from rasp.lib import LIBRARY

        print(
            f"{'library program at max_seq_len ' + str(args.library):<34} {'compile s':>8} "
            f"{'peak MB':>9} {'params':>12} {'layers':>6} {'d_model':>8} {'mlp':>8}"
        )
        for name in sorted(LIBRARY):
            print(_row(name, _measure(f"lib:{name}", 0, args.library)), flush=True)
        return
    sizes = [8, 32] if args.quick else [8, 32, 64, 128]
    print(
        f"{'measurement':<34} {'compile s':>8} {'peak MB':>9} {'params':>12} "
        f"{'layers':>6} {'d_model':>8} {'mlp':>8}"
    )
    for name in ("reverse", "sort_unique", "hist"):
        for n in sizes:
            print(_row(f"{name} vocab 16, max_seq_len {n}", _measure(name, 16, n)), flush=True)
        for vocab in sizes:
            print(
                _row(f"{name} vocab {vocab}, max_seq_len 16", _measure(name, vocab, 16)), flush=True
            )
    for depth in [1, 4, 16] if args.quick else [1, 4, 16, 64]:
        r = _measure("seqmap_chain", 16, 16, depth)
        print(_row(f"seqmap_chain depth {depth}, vocab 16, n 16", r), flush=True)


if __name__ == "__main__":
    main()
