"""Compression training throughput: optimiser steps per second, restarts in parallel.

Trains the paper's frac_prevs model (vocabulary {a, b, c, x}, max_seq_len 5, D = 13)
at d = 6 for a fixed number of steps (no early stopping) with 1, 2, 4 and 8 restarts
vectorised in one ``jax.vmap``-ed step, and prints steps per second (one step moves
every restart) and restart-steps per second (the work done), so later changes can be
compared::

    python benchmarks/compression.py [--steps 300] [--restarts 1 2 4 8]
"""

from __future__ import annotations

import argparse
import time

import compiler
import models
import rasp
from rasp import lib


def measure(model: models.CompiledModel, restarts: int, steps: int) -> tuple[float, float]:
    """(seconds for a warm-up run, seconds for the timed run) of ``steps`` steps."""
    kwargs = {
        "restarts": restarts,
        "steps": steps,
        "eval_every": 100,
        "patience": None,
        "stop_at_accuracy": None,
        "progress": False,
    }
    start = time.perf_counter()
    models.compress(model, 6, **kwargs)  # compiles the jitted steps for this shape
    warm = time.perf_counter() - start
    start = time.perf_counter()
    models.compress(model, 6, seed=1, **kwargs)
    return warm, time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--restarts", type=int, nargs="+", default=[1, 2, 4, 8])
    args = parser.parse_args(argv)
    program = lib.make_frac_prevs(rasp.tokens == "x")
    model = compiler.compile_rasp_to_model(program, set("abcx"), 5)
    print(
        f"frac_prevs D={model.model_config.d_model} -> d=6, {args.steps} steps, batch 64, "
        "all 1364 inputs scored every 100 steps"
    )
    print(f"{'restarts':>8} {'steps/s':>9} {'restart-steps/s':>16} {'first run s':>12}")
    for restarts in args.restarts:
        warm, seconds = measure(model, restarts, args.steps)
        rate = args.steps / seconds
        print(f"{restarts:>8} {rate:>9.1f} {rate * restarts:>16.1f} {warm:>12.1f}", flush=True)


if __name__ == "__main__":
    main()
