"""Superposition analysis on hand-made projections, sweeps, plots, and the example script."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import compiler
import rasp
from models import superposition as sp
from models.compression import CompressedModel

ROOT = Path(__file__).resolve().parents[1]


def test_gram_and_round_trip():
    w = np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 2.0]])
    np.testing.assert_allclose(sp.gram(w), w @ w.T)
    np.testing.assert_allclose(sp.round_trip(w), w @ w.T)
    read = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 0.5]])
    np.testing.assert_allclose(sp.round_trip(w, read), w @ read)
    with pytest.raises(rasp.RaspcValueError, match=r"read matrix must be \[d, D\]"):
        sp.round_trip(w, read.T)


def test_classification_of_a_known_projection():
    # a and b get their own axes; c and d share the third axis (a superposed pair);
    # e is almost gone
    w = np.array(
        [
            [1.0, 0.0, 0.0],
            [0.0, 1.0, 0.0],
            [0.0, 0.0, 1.0],
            [0.0, 0.0, -1.0],
            [0.05, 0.05, 0.0],
        ]
    )
    stats = {s.label: s for s in sp.classify_features(w, "abcde")}
    assert {k: s.status for k, s in stats.items()} == {
        "a": "orthogonal",
        "b": "orthogonal",
        "c": "superposed",
        "d": "superposed",
        "e": "dropped",
    }
    assert stats["c"].partner == "d" and stats["c"].overlap == pytest.approx(1.0)
    assert stats["c"].interference == pytest.approx(1.0)
    assert stats["a"].norm == pytest.approx(1.0) and stats["a"].recovered == pytest.approx(1.0)
    assert stats["e"].recovered == pytest.approx(0.005)
    assert stats["a"].interference == pytest.approx(0.05)
    loose = {s.label: s.status for s in sp.classify_features(w, "abcde", overlap_threshold=2.0)}
    assert loose["c"] == "orthogonal"


def test_untied_reads_can_undo_overlap():
    # two features written at 60 degrees, read back by the inverse: no interference
    w = np.array([[1.0, 0.0], [0.5, np.sqrt(3) / 2]])
    stats = sp.classify_features(w, ["x", "y"], np.linalg.inv(w))
    assert [s.status for s in stats] == ["orthogonal", "orthogonal"]
    tied = sp.classify_features(w, ["x", "y"])
    assert [s.status for s in tied] == ["superposed", "superposed"]


def test_label_count_must_match():
    with pytest.raises(rasp.RaspcValueError, match="expected 2 labels"):
        sp.classify_features(np.eye(2), ["only one"])


@pytest.fixture(scope="module")
def squeezed():
    """A compressed model made by hand: drop tokens:c, keep the rest."""
    model = compiler.compile_rasp_to_model(
        rasp.Map(lambda x: x == "a", rasp.tokens).named("is_a"), {"a", "b", "c"}, 3
    )
    keep = [i for i, label in enumerate(model.residual_labels) if label != "tokens:c"]
    write = np.eye(7)[:, keep]
    return CompressedModel(model, write, write.T[None])


def test_feature_stats_of_a_model(squeezed):
    stats = {s.label: s.status for s in sp.feature_stats(squeezed)}
    assert stats["tokens:c"] == "dropped"
    assert all(status == "orthogonal" for label, status in stats.items() if label != "tokens:c")
    with pytest.raises(rasp.RaspcTypeError):
        sp.feature_stats(np.eye(3))


@pytest.mark.parametrize("suffix", [".png", ".svg"])
def test_plots_write_files(tmp_path, squeezed, suffix):
    curve = sp.Sweep(
        "is_a", 7, {7: sp.SweepPoint(7, 1.0, 1.0, 0.0), 5: sp.SweepPoint(5, 0.5, 0.8, 1)}
    )
    written = [
        sp.plot_gram(squeezed, tmp_path / f"gram{suffix}"),
        sp.plot_features(squeezed, tmp_path / f"features{suffix}"),
        sp.plot_sweep([curve], tmp_path / f"sweep{suffix}"),
    ]
    for path in written:
        assert path.suffix == suffix and path.stat().st_size > 1000
    with pytest.raises(rasp.RaspcValueError, match="no training history"):
        sp.plot_history(squeezed, tmp_path / f"history{suffix}")


def test_unknown_image_format_is_refused(tmp_path, squeezed):
    with pytest.raises(rasp.RaspcValueError, match=r"expected a \.png or \.svg suffix"):
        sp.plot_gram(squeezed, tmp_path / "gram.jpg")


def test_sweep_finds_the_smallest_width(tmp_path):
    model = compiler.compile_rasp_to_model(
        rasp.Map(lambda x: x == "a", rasp.tokens).named("is_a"), {"a", "b", "c"}, 3
    )
    seen = []
    result = sp.sweep(model, [2], steps=200, progress=False, keep_models=True, on_point=seen.append)
    assert result.points[7].accuracy == 1.0 and 2 in result.points
    assert [p.d for p in seen] == [d for d in result.points if d != 7]
    at100 = result.smallest(1.0)
    assert at100 is not None and result.points[at100].accuracy == 1.0
    assert at100 == 1 or at100 - 1 in result.points  # the bisection closed the gap
    ds, acc = result.curve()
    assert ds == sorted(ds) and len(acc) == len(ds) and result.seconds > 0
    trained = result.points[at100].model
    if at100 < 7:
        sp.plot_history(trained, tmp_path / "history.png")
        assert (tmp_path / "history.png").stat().st_size > 1000


def test_example_runs_quick(tmp_path):
    out = tmp_path / "out"
    run = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "superposition.py"), "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert "d@99%" in run.stdout and "frac_prevs" in run.stdout
    for name in ("sweep.png", "sweep.svg", "table.txt", "results.json"):
        assert (out / name).stat().st_size > 0
    assert list(out.glob("*_gram.png")) and list(out.glob("*_features.svg"))
