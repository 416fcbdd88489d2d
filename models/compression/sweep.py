"""The smallest compressed width that keeps a target accuracy, over programs and seeds.

A sweep is a set of independent searches over d, one per (program, seed): the
compiled width D is exact by construction (d = D is not trained), d = 0 is taken to
fail, and each round trains the midpoint of every unfinished search (bisection).
Two things make the search robust to training noise, which otherwise breaks
bisection's assumption that accuracy grows with d:

* **warm starts**: a cell starts half its restarts from the solution at the
  smallest d that has reached the target so far (``compress(..., start=...)``), so
  the search squeezes a working projection a few columns further instead of
  starting over;
* **escalation**: a cell that misses the target is trained again, up to
  ``retries`` times, with fresh randomness (``trial``) and ``escalate`` times the
  steps, before its d counts as failed.

The cells of a round (one :func:`models.compress` plus
:func:`models.evaluate_compression` each, so accuracy means what it means
everywhere) run in parallel: on threads in this process by default (jax releases
the GIL while it computes), or as Ray tasks when a cluster address is given (the
``sweep`` extra).  A cell's result depends only on its program, d, seed, attempt,
settings and warm start, and the searches depend only on the results, so both ways
give the same table.  The table keeps every trained cell (every attempt), and
:meth:`SweepTable.frontier` reports, per program and seed, the smallest trained d
that reached the target.
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

import numpy as np

from models.compiled import CompiledModel
from models.compression.evaluation import evaluate_compression
from models.compression.model import CompressedModel
from models.compression.settings import CompressionSettings
from models.compression.training import TrainingHistory, compress, require
from rasp.errors import RaspcTypeError, RaspcValueError

__all__ = ["CellResult", "Solution", "SweepTable", "run_cell", "sweep", "train_cell"]


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
    attempt: int = 0  # 0, then 1.. for the escalated retries of a failed cell
    warm_from: int | None = None  # the d of the solution it was warm-started from


@dataclass(frozen=True)
class Solution:
    """A cell's projection, as plain arrays (what crosses to and from Ray workers):
    the warm start of the cells below it."""

    write: np.ndarray  # [D, d]
    read: np.ndarray  # [R, d, D]
    orthonormal: bool

    def model(self, base: CompiledModel, settings: CompressionSettings) -> CompressedModel:
        history = TrainingHistory([], [], [], [], 0, False, 0.0, best_orthonormal=self.orthonormal)
        return CompressedModel(
            base=base,
            write=self.write,
            read=self.read,
            mode=settings.mode,
            tied=settings.tied,
            history=history,
        )


def attempt_settings(settings: CompressionSettings, attempt: int, escalate: float):
    """The settings of a cell's ``attempt``: fresh randomness and ``escalate**attempt``
    times the steps (the annealing keeps its length)."""
    if attempt == 0:
        return settings
    steps = round(settings.steps * escalate**attempt)
    return settings.replace(trial=settings.trial + attempt, steps=steps)


def train_cell(
    name: str,
    model: CompiledModel,
    d: int,
    seed: int,
    settings: CompressionSettings,
    start: Solution | None = None,
    attempt: int = 0,
    escalate: float = 2.0,
) -> tuple[CellResult, Solution]:
    """Train and score one cell (what a Ray task runs): its row and its projection."""
    begin = time.perf_counter()
    s = attempt_settings(settings.replace(seed=seed), attempt, escalate)
    warm = None if start is None else start.model(model, s)
    small = compress(model, d, s, start=warm, progress=False)
    report = evaluate_compression(small)
    row = CellResult(
        program=name,
        d=d,
        d_full=small.d_full,
        seed=seed,
        accuracy=report.accuracy,
        token_accuracy=report.token_accuracy,
        measured_on=report.measured_on,
        seconds=time.perf_counter() - begin,
        steps=len(small.history.loss),
        attempt=attempt,
        warm_from=None if warm is None else warm.d,
    )
    solution = Solution(
        np.asarray(small.write), np.asarray(small.read), small.history.best_orthonormal
    )
    return row, solution


def run_cell(
    name: str, model: CompiledModel, d: int, seed: int, settings: CompressionSettings
) -> CellResult:
    """Train and score one cell from a cold start (no warm start, first attempt)."""
    return train_cell(name, model, d, seed, settings)[0]


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
    """A function running a list of cells (:func:`train_cell` arguments) in parallel
    and returning their results in order: Ray tasks when ``address`` is given (or Ray
    is already initialised by the caller), else a thread pool."""
    if address is None:

        def local(cells: list[tuple]) -> list[tuple[CellResult, Solution]]:
            count = workers or min(len(cells), os.cpu_count() or 1)
            if count <= 1 or len(cells) == 1:
                return [train_cell(*cell) for cell in cells]
            with ThreadPoolExecutor(max_workers=count) as pool:
                return list(pool.map(lambda cell: train_cell(*cell), cells))

        return local
    ray = require("ray", "sweep")
    if not ray.is_initialized():
        # "local" starts a throwaway one-node cluster; otherwise connect to the cluster
        local = {"include_dashboard": False, "log_to_driver": False} if address == "local" else {}
        ray.init(address=address, **local)
    remote = ray.remote(train_cell)
    shared: dict[int, Any] = {}

    def on_ray(cells: list[tuple]) -> list[tuple[CellResult, Solution]]:
        futures = []
        for name, model, *rest in cells:
            if id(model) not in shared:  # one copy of each model in the object store
                shared[id(model)] = ray.put(model)
            futures.append(remote.remote(name, shared[id(model)], *rest))
        return ray.get(futures)

    return on_ray


@dataclass
class _Search:
    """One (program, seed) search: d in (lo, hi) is open; ``best`` is the solution at
    hi (None at D, the compiled model), ``attempt`` the next try at the midpoint."""

    lo: int
    hi: int
    best: Solution | None = None
    attempt: int = 0

    @property
    def d(self) -> int:
        return (self.lo + self.hi) // 2

    def record(self, row: CellResult, solution: Solution, target: float, retries: int) -> None:
        if row.accuracy >= target - 1e-12:
            self.hi, self.best, self.attempt = row.d, solution, 0
        elif self.attempt < retries:
            self.attempt += 1
        else:
            self.lo, self.attempt = row.d, 0


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
    retries: int = 1,
    escalate: float = 2.0,
    warm: bool = True,
    on_cell: Callable[[CellResult], None] | None = None,
    **changes: Any,
) -> SweepTable:
    """Find, for each program and seed, the smallest d whose compressed model is
    exactly right on at least ``target`` of the evaluation inputs, by bisection over
    1..D; ``settings`` and ``changes`` are :func:`models.compress`'s.  Each cell
    warm-starts from the smallest solution found so far (``warm``), and a cell that
    misses the target is retried ``retries`` times with fresh randomness and
    ``escalate`` times the steps before its d counts as failed (see the module
    docstring).  Cells of one round run in parallel: ``workers`` threads here
    (default: one per core), or Ray tasks on the cluster at ``address`` (``"auto"``,
    ``"ray://host:10001"``; a Ray session the caller already started is used as it
    is).

    >>> import compiler, rasp
    >>> m = compiler.compile_rasp_to_model(rasp.tokens == "a", {"a", "b"}, 2)
    >>> table = sweep(m, seeds=(0,), steps=100, restarts=2)
    >>> table.frontier(m.layout.output)["best"] <= m.model_config.d_model
    True
    """
    if not 0 < target <= 1:
        raise RaspcValueError(f"sweep: target must be in (0, 1], found {target!r}")
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise RaspcValueError(f"sweep: retries must be an int >= 0, found {retries!r}")
    if not escalate >= 1:
        raise RaspcValueError(f"sweep: escalate must be a number >= 1, found {escalate!r}")
    named = _named(models)
    s = (settings or CompressionSettings()).replace(**changes)
    run = _cells_runner(address, workers)
    rows = [
        CellResult(
            program=name,
            d=m.model_config.d_model,
            d_full=m.model_config.d_model,
            seed=seed,
            accuracy=1.0,
            token_accuracy=1.0,
            measured_on="the compiled model (exact by construction)",
            seconds=0.0,
            steps=0,
        )
        for name, m in named.items()
        for seed in seeds
    ]
    searches = {
        (name, seed): _Search(0, m.model_config.d_model)
        for name, m in named.items()
        for seed in seeds
    }
    while True:
        todo = [(key, search) for key, search in searches.items() if search.hi - search.lo > 1]
        if not todo:
            break
        cells = [
            (
                name,
                named[name],
                search.d,
                seed,
                s,
                search.best if warm else None,
                search.attempt,
                escalate,
            )
            for (name, seed), search in todo
        ]
        for (_, search), (row, solution) in zip(todo, run(cells)):
            rows.append(row)
            if on_cell is not None:
                on_cell(row)
            search.record(row, solution, target, retries)
    return SweepTable(target, rows)
