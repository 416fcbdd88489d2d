"""How long the reference evaluator takes on a long input.

Builds a 10-node program that uses every kind of work the evaluator does
(Maps, a SequenceMap, a token-equality Select, a prefix Select over all-distinct
indices, a SelectorWidth and a numerical mean), evaluates it on 1,000 tokens
and prints the best of a few runs.  Goal: under 1 s.

Run: ``.venv/bin/python benchmarks/evaluate_speed.py [--tokens N] [--repeat R]``
"""

from __future__ import annotations

import argparse
import random
import time

import rasp

GOAL_S = 1.0


def build_program() -> rasp.SOp:
    """A 10-node program: tokens, indices and eight derived nodes."""
    tokens, indices = rasp.tokens, rasp.indices
    bucket = rasp.Map(lambda x: x % 7, tokens)  # 3
    same = rasp.Select(bucket, bucket, rasp.Comparison.EQ)  # 4
    hist = rasp.SelectorWidth(same)  # 5
    upto = rasp.Select(indices, indices, rasp.Comparison.LEQ)  # 6
    is_zero = rasp.numerical(rasp.Map(lambda b: 1 if b == 0 else 0, bucket))  # 7
    frac = rasp.numerical(rasp.Aggregate(upto, is_zero, default=0))  # 8
    mixed = rasp.SequenceMap(lambda h, b: h * 10 + b, hist, bucket)  # 9
    return rasp.LinearSequenceMap(mixed, frac, 1, 100).named("result")  # 10


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    program = build_program()
    nodes = len(rasp.postorder(program))
    rng = random.Random(0)
    xs = [rng.randrange(100) for _ in range(args.tokens)]

    best = float("inf")
    for _ in range(args.repeat):
        start = time.perf_counter()
        rasp.evaluate(program, xs)
        best = min(best, time.perf_counter() - start)

    print(f"evaluate: {nodes}-node program, {args.tokens} tokens: {best:.3f} s")
    if best >= GOAL_S:
        print(f"  slower than the {GOAL_S:.0f} s goal")


if __name__ == "__main__":
    main()
