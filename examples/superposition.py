"""Superposition: squeeze compiled models' residual streams and see what survives.

Reproduces the compression experiments of Tracr's paper (Lindner et al., 2023,
section 5) with raspc's compressed models, then sweeps the compressed width d:

1. frac_prevs (fraction of previous "x" tokens, vocabulary {a, b, c, x},
   max_seq_len 5: 14 residual dimensions in Tracr, 13 in raspc) with the
   paper's setup, one free tied projection; the paper reports 6 dimensions
   without loss, so this trains d = 6 and then tries to go lower;
2. sort_unique, compressed with raspc's default (orthonormal) projection;
3. for frac_prevs, sort_unique, hist, reverse and shuffle_dyck1, the smallest d
   whose decoded outputs are exactly right on at least 99% and on 100% of all
   inputs, found by bisection.

It writes Gram-matrix heatmaps, per-feature plots, training curves and the
accuracy-against-d curves (PNG and SVG) to ``--out`` (default
``./superposition_out``), and prints a table.  ``--quick`` runs a tiny version
(for tests).  About 7 minutes on 2 CPU cores::

    python examples/superposition.py [--out DIR] [--quick]
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import compiler
import models
import rasp
from models import superposition as sp
from rasp import lib

PAPER = {"orthonormal": False, "init": "random", "learning_rate": 0.003, "layer_weight": 0.01}
"""The paper's setup: one free matrix W, read back by W^T, trained from a random start."""


@dataclass(frozen=True)
class Task:
    name: str
    build: Any  # () -> rasp.SOp
    vocab: set
    max_seq_len: int
    steps: int = 3000


def tasks(quick: bool) -> list[Task]:
    frac = lambda: lib.make_frac_prevs(rasp.tokens == "x")
    if quick:
        return [Task("frac_prevs", frac, {"a", "x"}, 3, steps=200)]
    return [
        Task("frac_prevs", frac, set("abcx"), 5),
        Task(
            "sort_unique", lambda: lib.make_sort_unique(rasp.tokens, rasp.tokens), {1, 2, 3, 4}, 5
        ),
        Task("hist", lib.make_hist, {"a", "b", "c"}, 5),
        Task("reverse", lambda: lib.make_reverse(rasp.tokens), {"a", "b", "c"}, 5),
        Task("shuffle_dyck1", lib.make_shuffle_dyck1, {"(", ")"}, 4, steps=1000),
    ]


def show(small: models.CompressedModel, out: Path, stem: str) -> None:
    """Print the evaluation and the feature classes; write the plots."""
    print(f"  -- {stem}: D={small.d_full} -> d={small.d}")
    print("  " + str(models.evaluate_compression(small)).replace("\n", "\n  "))
    stats = sp.feature_stats(small)
    for status in sp.STATUSES:
        labels = [s.label for s in stats if s.status == status]
        print(f"  {status:>12}: {', '.join(labels) or '-'}")
    for suffix in (".png", ".svg"):
        sp.plot_gram(small, out / f"{stem}_gram{suffix}")
        sp.plot_features(small, out / f"{stem}_features{suffix}")
        sp.plot_history(small, out / f"{stem}_history{suffix}")


def report(point: sp.SweepPoint, name: str) -> None:
    print(f"  {name} d={point.d}: exact {point.accuracy:.2%} ({point.seconds:.0f} s)", flush=True)


def paper(quick: bool, out: Path) -> tuple[sp.Sweep, float]:
    """frac_prevs with the paper's setup, at d = 6 and below, two seeds each."""
    task = tasks(quick)[0]
    model = compiler.compile_rasp_to_model(task.build(), task.vocab, task.max_seq_len)
    d_full = model.model_config.d_model
    name = "frac_prevs (free W)"
    print(f"== {name}: the paper's setup, D = {d_full} here, 14 in Tracr; the paper reaches d = 6")
    start = time.perf_counter()
    steps = 400 if quick else 8000
    result = sp.sweep(
        model,
        [min(6, d_full - 1)] if quick else [6, 5, 4],
        name=name,
        seeds=(0,) if quick else (0, 1),
        keep_models=True,
        steps=steps,
        anneal=steps // 4,
        patience=20,
        progress=False,
        on_point=lambda p: report(p, name),
        **PAPER,
    )
    seconds = time.perf_counter() - start
    shown = {min(6, d_full - 1), result.smallest(0.99)}
    for d in sorted((d for d in shown if d is not None and d < d_full), reverse=True):
        show(result.points[d].model, out, f"frac_prevs_paper_d{d}")
    return result, seconds


def sweeps(quick: bool, out: Path) -> list[tuple[sp.Sweep, float]]:
    """Every task with raspc's default projection (orthonormal, importance order),
    two seeds per width unless the first is exact."""
    print("== accuracy against d (default projection; bisection on d)")
    done = []
    for task in tasks(quick):
        model = compiler.compile_rasp_to_model(task.build(), task.vocab, task.max_seq_len)
        d_full = model.model_config.d_model
        start = time.perf_counter()
        result = sp.sweep(
            model,
            [max(1, d_full // 4)],
            name=task.name,
            steps=task.steps,
            seeds=(0,) if quick else (0, 1),
            keep_models=True,
            progress=False,
            on_point=lambda p, n=task.name: report(p, n),
        )
        done.append((result, time.perf_counter() - start))
        best = result.smallest(1.0)
        if task.name == "sort_unique" and best is not None and best < d_full:
            show(result.points[best].model, out, f"sort_unique_d{best}")
    return done


def table(rows: list[tuple[sp.Sweep, float]]) -> str:
    lines = [f"{'program':<22} {'D':>4} {'d@99%':>6} {'d@100%':>7} {'seconds':>8}"]
    for s, seconds in rows:
        at99, at100 = s.smallest(0.99), s.smallest(1.0)
        lines.append(f"{s.name:<22} {s.d_full:>4} {at99!s:>6} {at100!s:>7} {seconds:>8.1f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("superposition_out"))
    parser.add_argument("--quick", action="store_true", help="a tiny run, for tests")
    args = parser.parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    rows = [paper(args.quick, out), *sweeps(args.quick, out)]
    for suffix in (".png", ".svg"):
        sp.plot_sweep([s for s, _ in rows], out / f"sweep{suffix}")
    text = table(rows)
    print(text)
    (out / "table.txt").write_text(text + "\n")
    summary = {
        "sweeps": {
            s.name: {
                "D": s.d_full,
                "d_at_99": s.smallest(0.99),
                "d_at_100": s.smallest(1.0),
                "seconds": seconds,
                "curve": dict(zip(*s.curve())),
            }
            for s, seconds in rows
        },
        "seconds": time.perf_counter() - started,
    }
    (out / "results.json").write_text(json.dumps(summary, indent=1))
    print(f"wrote {out}/ in {summary['seconds']:.0f} s")


if __name__ == "__main__":
    main()
