"""Superposition: squeeze compiled models' residual streams and see what survives.

Reproduces the compression experiment of Tracr's paper (Lindner et al., 2023,
section 5) and regenerates the README's table, with one command:

1. **The paper's setup**: frac_prevs (fraction of previous "x" tokens, vocabulary
   {a, b, c, x}, max_seq_len 5; 13 residual dimensions here, 14 in Tracr).  It
   trains ``models.compress(model, 6)`` with the defaults for seeds 0-4 and scores
   each on all 1,364 valid inputs, then bisects d from 13 down for the smallest d at
   99% and at 100% exact, with the defaults and with the paper's free matrix
   (``orthonormal=False``); it draws the analysis (Gram matrix, per-feature
   dimensionality, geometry, per-node decodability, training curve) at the
   smallest d.
2. **The library table**: for eight library programs, the smallest d whose decoded
   outputs are exactly right on at least 99% of all valid inputs (the sweep's
   bisection, with :data:`TABLE` settings: the defaults with 4 restarts and 2,000
   steps; every cell warm-starts from the smallest solution found so far, and a
   failed cell is retried once with fresh randomness and twice the steps; the
   d@100% column is the smallest trained d that was exact, an upper bound).

Cells train in parallel (threads; ``--ray ADDRESS`` sends them to a Ray cluster),
with a progress bar.  It writes plots (PNG and SVG), ``cells.csv`` (every trained
cell), ``results.json`` and ``table.txt`` to ``--out`` (default
``./superposition_out``).  ``--quick`` runs a tiny version (for tests)::

    python examples/superposition.py [--out DIR] [--quick] [--ray ADDRESS] [--defaults]
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
from models.compression.sweep import SweepTable, sweep
from rasp import lib


@dataclass(frozen=True)
class Task:
    name: str
    build: Any  # () -> rasp.SOp
    vocab: set
    max_seq_len: int

    def compile(self) -> models.CompiledModel:
        return compiler.compile_rasp_to_model(self.build(), self.vocab, self.max_seq_len)


def frac_prevs() -> rasp.SOp:
    return lib.make_frac_prevs(rasp.tokens == "x")


TABLE = {"restarts": 4, "steps": 2000}
"""The library table's settings: the defaults with half the restarts and a shorter
run, so that the whole table trains in minutes on a small CPU; the sweep's warm
starts and retries (its defaults) make up for the shorter runs."""

PAPER = Task("frac_prevs", frac_prevs, set("abcx"), 5)
QUICK = Task("frac_prevs", frac_prevs, {"a", "x"}, 3)


def library() -> list[Task]:
    return [
        PAPER,
        Task(
            "sort_unique", lambda: lib.make_sort_unique(rasp.tokens, rasp.tokens), {1, 2, 3, 4}, 5
        ),
        Task("hist", lib.make_hist, {"a", "b", "c"}, 5),
        Task("reverse", lambda: lib.make_reverse(rasp.tokens), {"a", "b", "c"}, 5),
        Task("shuffle_dyck1", lib.make_shuffle_dyck1, {"(", ")"}, 4),
        Task("length", lib.make_length, {"a", "b"}, 5),
        Task("count_a", lambda: lib.make_count(rasp.tokens, "a"), {"a", "b", "c"}, 5),
        Task("pair_balance", lambda: lib.make_pair_balance(rasp.tokens, "(", ")"), {"(", ")"}, 5),
    ]


def _bar(total: int, desc: str):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="cell")


def _sweep(named: dict, seeds: tuple, args, desc: str, **settings: Any) -> SweepTable:
    cells = sum(m.model_config.d_model.bit_length() for m in named.values()) * len(seeds)
    with _bar(cells, desc) as bar:
        return sweep(
            named, seeds=seeds, address=args.ray, on_cell=lambda _: bar.update(), **settings
        )


def paper(args, out: Path, settings: dict) -> dict[str, Any]:
    """The paper's setup: d = 6 for five seeds, then the frontier for both matrices."""
    task = QUICK if args.quick else PAPER
    model = task.compile()
    d = min(6, model.model_config.d_model - 1)
    print(
        f"== the paper's setup: {task.name}, vocab {sorted(task.vocab)}, length "
        f"{task.max_seq_len}, D = {model.model_config.d_model} (14 in Tracr)"
    )
    seeds = (0,) if args.quick else (0, 1, 2, 3, 4)
    at_d = {}
    best = None
    for seed in seeds:
        small = models.compress(model, d, seed=seed, progress=True, **settings)
        report = models.evaluate_compression(small)
        at_d[seed] = report.accuracy
        print(
            f"  d={d} seed {seed}: exact {report.accuracy:.2%} on {report.measured_on} "
            f"({small.history.seconds:.0f} s)",
            flush=True,
        )
        best = small if best is None else best
    show(best, out, f"{task.name}_d{d}")
    named = {task.name: model}
    frontiers = {}
    for label, extra in (("defaults", {}), ("free matrix", {"orthonormal": False})):
        table = _sweep(named, seeds[:1], args, f"frontier, {label}", **settings, **extra)
        front = table.frontier(task.name)
        frontiers[label] = {
            "d_at_99": front["best"],
            "d_at_100": table.frontier(task.name, 1.0)["best"],
        }
        table.to_csv(out / f"paper_{label.replace(' ', '_')}.csv")
        print(
            f"  {label}: d@99% {frontiers[label]['d_at_99']}, d@100% {frontiers[label]['d_at_100']}"
        )
    return {"d": d, "accuracy_at_d": at_d, "frontier": frontiers}


def show(small: models.CompressedModel, out: Path, stem: str) -> None:
    """Print the evaluation, the feature classes and the node decodability; plot."""
    print(f"  -- {stem}: D={small.d_full} -> d={small.d}")
    print("  " + str(models.evaluate_compression(small)).replace("\n", "\n  "))
    stats = sp.feature_stats(small)
    for status in sp.STATUSES:
        labels = [f"{s.label} ({s.dimensionality:.2f})" for s in stats if s.status == status]
        print(f"  {status:>12}: {', '.join(labels) or '-'}")
    for row in sp.node_decodability(small):
        print(
            f"  node {row.label:<16} by {','.join(row.computed_by) or 'embed':<14} "
            f"decodes exactly on {row.accuracy:.1%} of inputs"
        )
    for suffix in (".png", ".svg"):
        for plot in ("gram", "features", "geometry", "nodes", "history"):
            getattr(sp, f"plot_{plot}")(small, out / f"{stem}_{plot}{suffix}")


def table_text(table: SweepTable, seconds: float) -> str:
    lines = [f"{'program':<16} {'D':>4} {'d@99%':>6} {'d@100%':>7} {'d/D@99%':>8}"]
    for program in table.programs():
        front = table.frontier(program)
        exact = table.frontier(program, 1.0)["best"]
        ratio = f"{front['best'] / front['d_full']:.2f}" if front["best"] else "-"
        lines.append(
            f"{program:<16} {front['d_full']:>4} {front['best']!s:>6} {exact!s:>7} {ratio:>8}"
        )
    lines.append(f"(exact match on all valid inputs of each program; {seconds:.0f} s)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("superposition_out"))
    parser.add_argument("--quick", action="store_true", help="a tiny run, for tests")
    parser.add_argument("--ray", default=None, help="a Ray cluster address for the sweeps")
    parser.add_argument(
        "--defaults", action="store_true", help="train the library table with the defaults"
    )
    args = parser.parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    settings = {"steps": 200, "restarts": 2} if args.quick else {}
    summary: dict[str, Any] = {"paper": paper(args, out, settings)}
    tasks = [QUICK] if args.quick else library()
    print("== the library table (defaults, seed 0, bisection on d)")
    begin = time.perf_counter()
    table = _sweep(
        {t.name: t.compile() for t in tasks},
        (0,),
        args,
        "library",
        **(settings or ({} if args.defaults else TABLE)),
    )
    text = table_text(table, time.perf_counter() - begin)
    print(text)
    (out / "table.txt").write_text(text + "\n")
    table.to_csv(out / "cells.csv")
    for suffix in (".png", ".svg"):
        table.plot(out / f"sweep{suffix}")
    summary["frontier"] = {p: table.frontier(p) for p in table.programs()}
    summary["seconds"] = time.perf_counter() - started
    (out / "results.json").write_text(json.dumps(summary, indent=1, default=str))
    print(f"wrote {out}/ in {summary['seconds']:.0f} s")


if __name__ == "__main__":
    main()
