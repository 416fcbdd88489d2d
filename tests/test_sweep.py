"""Sweeps over d: bisection to the frontier, tidy tables, and the same result on Ray."""

from __future__ import annotations

import csv
import dataclasses
import json

import pytest

import compiler
import rasp
from models.compression.sweep import SweepTable, sweep

FAST = {"steps": 100, "restarts": 2, "eval_every": 50}


@pytest.fixture(scope="module")
def small():
    """D = 5 (one, BOS, tokens:a, tokens:b, the map): as few directions as a program gets."""
    model = compiler.compile_rasp_to_model(
        rasp.numerical(rasp.Map(lambda x: 1 if x == "a" else 0, rasp.tokens)), {"a", "b"}, 2
    )
    return model


def _rows(table: SweepTable) -> list[dict]:
    return [{k: v for k, v in dataclasses.asdict(r).items() if k != "seconds"} for r in table.rows]


@pytest.fixture(scope="module")
def local(small):
    return sweep(small, seeds=(0, 1), workers=2, **FAST)


def test_bisection_finds_the_frontier(small, local):
    name = small.layout.output
    d_full = small.model_config.d_model
    front = local.frontier(name)
    for seed, found in front["per_seed"].items():
        assert found is not None and 1 <= found <= d_full
        rows = {r.d: r for r in local.rows if r.seed == seed}
        assert rows[found].accuracy >= 0.99
        assert found == 1 or rows[found - 1].accuracy < 0.99  # the gap below was closed
    assert front["best"] == min(front["per_seed"].values())
    assert front["all_seeds"] == max(front["per_seed"].values()) or front["all_seeds"] is not None
    ds, acc = local.curve(name)
    assert ds == sorted(ds) and ds[-1] == d_full and acc[-1] == 1.0


def test_failed_cells_are_retried_and_successes_warm_start_the_rest(small, local):
    rows = [r for r in local.rows if r.steps > 0]
    for r in rows:
        tries = [x for x in rows if (x.seed, x.d) == (r.seed, r.d)]
        assert sorted(x.attempt for x in tries) == list(range(len(tries)))
        # a retry follows a miss; the last try at a d either hit or used up the retries
        assert all(x.accuracy < 0.99 for x in tries[:-1]) and len(tries) <= 2
        # a warm start comes from a hit at a wider d of the same seed trained earlier
        if r.warm_from is not None:
            assert r.warm_from > r.d
            assert any(x.d == r.warm_from and x.accuracy >= 0.99 for x in rows if x.seed == r.seed)
    # this sweep has both: d = 2 hits, d = 1 starts from it, misses, and is retried
    # with twice the steps (FAST: 100, no early stop when it misses)
    assert any(r.warm_from is not None for r in rows)
    retried = [r for r in rows if r.attempt == 1]
    assert retried and all(r.steps == 2 * FAST["steps"] for r in retried)
    cold = sweep(small, seeds=(0,), workers=1, retries=0, warm=False, **FAST)
    assert all(r.attempt == 0 and r.warm_from is None for r in cold.rows)
    with pytest.raises(rasp.RaspcValueError, match="retries must be an int"):
        sweep(small, retries=-1)


def test_tables_are_tidy(tmp_path, local):
    with local.to_csv(tmp_path / "t.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(local.rows) and {"program", "d", "seed", "accuracy"} <= set(rows[0])
    data = json.loads(local.to_json(tmp_path / "t.json").read_text())
    assert data["target"] == 0.99 and len(data["rows"]) == len(rows)
    assert all(
        "valid inputs" in r["measured_on"] or "compiled" in r["measured_on"] for r in data["rows"]
    )
    assert local.plot(tmp_path / "t.png").stat().st_size > 1000


def test_threads_and_one_worker_agree(small, local):
    assert _rows(sweep(small, seeds=(0, 1), workers=1, **FAST)) == _rows(local)


def test_ray_local_cluster_gives_the_in_process_result(small, local):
    """Ray 2.60 removed ``local_mode``; ``address="local"`` starts a throwaway one-node
    cluster in this test, and the cells run as Ray tasks in its worker processes."""
    import ray

    try:
        on_ray = sweep(small, seeds=(0, 1), address="local", **FAST)
    finally:
        ray.shutdown()
    assert _rows(on_ray) == _rows(local)
    assert len([r for r in on_ray.rows if r.steps > 0]) >= 2  # at least two trained cells


def test_bad_sweeps_are_refused(small):
    with pytest.raises(rasp.RaspcValueError, match="target must be in"):
        sweep(small, target=0.0)
    with pytest.raises(rasp.RaspcTypeError, match=r"sweep needs a models\.CompiledModel"):
        sweep("frac_prevs")
