"""The smallest compressed width that keeps a target accuracy, over programs and seeds.

A sweep is a set of independent bisections over d, one per (program, seed): the
compiled width D is exact by construction (d = D is not trained), d = 0 is taken to
fail, and each round trains the midpoint of every unfinished search.  The cells of a
round (one :func:`models.compress` plus :func:`models.evaluate_compression` each, so
accuracy means what it means everywhere) run in parallel: on threads in this process
by default (jax releases the GIL while it computes), or as Ray tasks when a cluster
address is given (the ``sweep`` extra).  A cell's result depends only on its
program, d, seed and settings, so both ways give the same table.

Bisection assumes accuracy grows with d, which training noise can break; the table
keeps every trained cell, and :meth:`SweepTable.frontier` reports, per program and
seed, the smallest trained d that reached the target.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.compiled import CompiledModel
from models.compression.evaluation import evaluate_compression
from models.compression.settings import CompressionSettings
from models.compression.training import compress, require
from rasp.errors import RaspcTypeError, RaspcValueError

__all__ = ["CellResult", "SweepTable", "run_cell", "sweep"]


@dataclass(frozen=True)
class CellResult:
    """One trained width: exact-match accuracy on ``measured_on``."""

    program: str
    d: int
    d_full: int
    seed: int
    accuracy: float
    token_accuracy: float
    measured_on: str
    seconds: float  # training and evaluation (0 for d = D, the compiled model)
    steps: int  # optimiser steps taken


def run_cell(
    name: str, model: CompiledModel, d: int, seed: int, settings: CompressionSettings
) -> CellResult:
    """Train and score one cell (also what a Ray task runs)."""
    start = time.perf_counter()
    small = compress(model, d, settings.replace(seed=seed), progress=False)
    report = evaluate_compression(small)
    return CellResult(
        program=name,
        d=d,
        d_full=small.d_full,
        seed=seed,
        accuracy=report.accuracy,
        token_accuracy=report.token_accuracy,
        measured_on=report.measured_on,
        seconds=time.perf_counter() - start,
        steps=len(small.history.loss),
    )


@dataclass
class SweepTable:
    """Every cell a sweep trained (tidy: one row per program, d and seed)."""

    target: float
    rows: list[CellResult]

    def programs(self) -> list[str]:
        return list(dict.fromkeys(r.program for r in self.rows))

    def frontier(self, program: str, target: float | None = None) -> dict[str, Any]:
        """For ``program``: per seed, the smallest trained d reaching ``target`` (default
        the sweep's); ``best`` the smallest over seeds, ``all_seeds`` the smallest d at
        which every seed reached it (None when no trained d did)."""
        target = self.target if target is None else target
        rows = [r for r in self.rows if r.program == program]
        seeds = sorted({r.seed for r in rows})
        per_seed = {}
        for seed in seeds:
            hits = [r.d for r in rows if r.seed == seed and r.accuracy >= target - 1e-12]
            per_seed[seed] = min(hits, default=None)
        found = [d for d in per_seed.values() if d is not None]
        reach = {
            d
            for d in {r.d for r in rows}
            if all(
                any(r.accuracy >= target - 1e-12 for r in rows if r.seed == s and r.d == d)
                for s in seeds
            )
        }
        return {
            "per_seed": per_seed,
            "best": min(found, default=None),
            "all_seeds": min(reach, default=None),
            "d_full": rows[0].d_full if rows else None,
        }

    def curve(self, program: str) -> tuple[list[int], list[float]]:
        """Best accuracy over seeds at every trained d."""
        best: dict[int, float] = {}
        for r in self.rows:
            if r.program == program:
                best[r.d] = max(best.get(r.d, -1.0), r.accuracy)
        ds = sorted(best)
        return ds, [best[d] for d in ds]

    def to_records(self) -> list[dict[str, Any]]:
        return [dataclasses.asdict(r) for r in self.rows]

    def to_csv(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fields = [f.name for f in dataclasses.fields(CellResult)]
        with path.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=fields)
            writer.writeheader()
            writer.writerows(self.to_records())
        return path

    def to_json(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        frontier = {p: self.frontier(p) for p in self.programs()}
        data = {"target": self.target, "frontier": frontier, "rows": self.to_records()}
        path.write_text(json.dumps(data, indent=1))
        return path

    def plot(self, path: str | Path, *, title: str | None = None) -> Path:
        """Accuracy against d (left) and d / D (right): best over seeds as a line,
        every seed as a dot, the target dashed."""
        from models.superposition import _check_suffix, _figure, _save

        _check_suffix(path)
        fig, axes = _figure(11.0, 4.5, cols=2)
        for program in self.programs():
            rows = [r for r in self.rows if r.program == program]
            d_full = rows[0].d_full
            ds, acc = self.curve(program)
            for ax, scale in ((axes[0, 0], 1), (axes[0, 1], d_full)):
                (line,) = ax.plot(
                    [d / scale for d in ds], acc, marker="o", ms=3, label=f"{program} (D={d_full})"
                )
                ax.scatter(
                    [r.d / scale for r in rows],
                    [r.accuracy for r in rows],
                    s=8,
                    color=line.get_color(),
                    alpha=0.4,
                )
        for ax, xlabel in ((axes[0, 0], "d"), (axes[0, 1], "d / D")):
            ax.axhline(self.target, color="k", lw=0.8, ls="--")
            ax.set_xlabel(xlabel)
            ax.set_ylabel("exact-match accuracy")
            ax.set_ylim(-0.02, 1.02)
            ax.grid(alpha=0.3)
        axes[0, 0].legend(fontsize=8)
        fig.suptitle(title or "exact-match accuracy against the compressed width")
        return _save(fig, path)


def _cells_runner(address: str | None, workers: int | None):
    """A function running a list of cells in parallel and returning their results in
    order: Ray tasks when ``address`` is given (or Ray is already initialised by the
    caller), else a thread pool."""
    if address is None:

        def local(cells: list[tuple]) -> list[CellResult]:
            count = workers or min(len(cells), os.cpu_count() or 1)
            if count <= 1 or len(cells) == 1:
                return [run_cell(*cell) for cell in cells]
            with ThreadPoolExecutor(max_workers=count) as pool:
                return list(pool.map(lambda cell: run_cell(*cell), cells))

        return local
    ray = require("ray", "sweep")
    if not ray.is_initialized():
        # "local" starts a throwaway one-node cluster; otherwise connect to the cluster
        local = {"include_dashboard": False, "log_to_driver": False} if address == "local" else {}
        ray.init(address=address, **local)
    remote = ray.remote(run_cell)
    shared: dict[int, Any] = {}

    def on_ray(cells: list[tuple]) -> list[CellResult]:
        futures = []
        for name, model, d, seed, settings in cells:
            if id(model) not in shared:  # one copy of each model in the object store
                shared[id(model)] = ray.put(model)
            futures.append(remote.remote(name, shared[id(model)], d, seed, settings))
        return ray.get(futures)

    return on_ray


def _named(models: CompiledModel | Mapping[str, CompiledModel]) -> dict[str, CompiledModel]:
    if isinstance(models, CompiledModel):
        return {models.layout.output: models}
    if isinstance(models, Mapping) and all(isinstance(m, CompiledModel) for m in models.values()):
        return dict(models)
    raise RaspcTypeError(
        f"sweep needs a models.CompiledModel or a mapping of names to them, found "
        f"{type(models).__name__}"
    )


def sweep(
    models: CompiledModel | Mapping[str, CompiledModel],
    *,
    target: float = 0.99,
    seeds: Sequence[int] = (0,),
    settings: CompressionSettings | None = None,
    address: str | None = None,
    workers: int | None = None,
    on_cell: Callable[[CellResult], None] | None = None,
    **changes: Any,
) -> SweepTable:
    """Find, for each program and seed, the smallest d whose compressed model is
    exactly right on at least ``target`` of the evaluation inputs, by bisection over
    1..D; ``settings`` and ``changes`` are :func:`models.compress`'s.  Cells of one
    round run in parallel: ``workers`` threads here (default: one per core), or Ray
    tasks on the cluster at ``address`` (``"auto"``, ``"ray://host:10001"``; a Ray
    session the caller already started is used as it is).

    >>> import compiler, rasp
    >>> m = compiler.compile_rasp_to_model(rasp.tokens == "a", {"a", "b"}, 2)
    >>> table = sweep(m, seeds=(0,), steps=100, restarts=2)
    >>> table.frontier(m.layout.output)["best"] <= m.model_config.d_model
    True
    """
    if not 0 < target <= 1:
        raise RaspcValueError(f"sweep: target must be in (0, 1], found {target!r}")
    named = _named(models)
    s = (settings or CompressionSettings()).replace(**changes)
    run = _cells_runner(address, workers)
    rows = [
        CellResult(
            name,
            m.model_config.d_model,
            m.model_config.d_model,
            seed,
            1.0,
            1.0,
            "the compiled model (exact by construction)",
            0.0,
            0,
        )
        for name, m in named.items()
        for seed in seeds
    ]
    bounds = {
        (name, seed): [0, m.model_config.d_model] for name, m in named.items() for seed in seeds
    }
    while True:
        todo = [(key, (lo + hi) // 2) for key, (lo, hi) in bounds.items() if hi - lo > 1]
        if not todo:
            break
        cells = [(name, named[name], d, seed, s) for (name, seed), d in todo]
        for ((name, seed), d), result in zip(todo, run(cells)):
            rows.append(result)
            if on_cell is not None:
                on_cell(result)
            failed = result.accuracy < target - 1e-12
            bounds[name, seed][0 if failed else 1] = d
    return SweepTable(target, rows)
