"""Superposition analysis on hand-made projections, plots, and the example script."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import compiler
import rasp
from models import superposition as sp
from models.compression import CompressedModel
from rasp import lib

ROOT = Path(__file__).resolve().parents[1]


def test_gram_and_round_trip():
    w = np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 2.0]])
    np.testing.assert_allclose(sp.gram(w), w @ w.T)
    np.testing.assert_allclose(sp.round_trip(w), w @ w.T)
    read = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 0.5]])
    np.testing.assert_allclose(sp.round_trip(w, read), w @ read)
    with pytest.raises(rasp.RaspcValueError, match=r"read matrix must be \[d, D\]"):
        sp.round_trip(w, read.T)


def test_dimensionality_follows_elhage():
    # a alone; b, c an antipodal pair; d, e, f a triangle in the plane of the other two axes
    angles = np.array([0, 2 * np.pi / 3, 4 * np.pi / 3])
    tri = np.c_[np.zeros(3), np.zeros(3), np.cos(angles), np.sin(angles)]
    w = np.vstack([[1, 0, 0, 0], [0, 1, 0, 0], [0, -1, 0, 0], tri, np.zeros(4)])
    dims = sp.dimensionality(w)
    np.testing.assert_allclose(dims, [1, 0.5, 0.5, 2 / 3, 2 / 3, 2 / 3, 0], atol=1e-9)
    # the definition itself, for a random matrix
    rng = np.random.default_rng(0)
    r = rng.normal(size=(5, 3))
    i = 2
    unit = r[i] / np.linalg.norm(r[i])
    assert sp.dimensionality(r)[i] == pytest.approx((r[i] @ r[i]) / ((r @ unit) ** 2).sum())
    assert sp.dimensionality(r).sum() <= 3 + 1e-9  # never more than d dimensions in use


def test_classification_of_a_known_projection():
    # a and b own their axes; c and d share the third (an antipodal pair); e is almost gone;
    # f is short but alone in its direction: kept, not dropped
    w = np.array(
        [
            [1.0, 0.0, 0.0, 0.0],
            [0.0, 1.0, 0.0, 0.0],
            [0.0, 0.0, 1.0, 0.0],
            [0.0, 0.0, -1.0, 0.0],
            [0.05, 0.05, 0.0, 0.0],
            [0.0, 0.0, 0.0, 0.3],
        ]
    )
    stats = {s.label: s for s in sp.classify_features(w, "abcdef")}
    assert {k: s.status for k, s in stats.items()} == {
        "a": "orthogonal",
        "b": "orthogonal",
        "c": "superposed",
        "d": "superposed",
        "e": "dropped",
        "f": "orthogonal",
    }
    assert stats["c"].partner == "d" and stats["c"].dimensionality == pytest.approx(0.5)
    assert stats["c"].interference == pytest.approx(1.0)
    assert stats["a"].norm == pytest.approx(1.0) and stats["a"].recovered == pytest.approx(1.0)
    assert stats["f"].recovered == pytest.approx(0.09)
    assert stats["a"].interference == pytest.approx(0.05**2)
    loose = {s.label: s.status for s in sp.classify_features(w, "abcdef", shared_tolerance=0.6)}
    assert loose["c"] == "orthogonal"


def test_geometry_finds_antipodal_pairs_and_polygons():
    # in the plane: a, b antipodal on one axis; c, d antipodal on the other, and e dropped
    w = np.array([[2.0, 0.0], [-1.0, 0.0], [0.0, 1.5], [0.0, -1.5], [0.01, 0.01]])
    g = sp.geometry(w)
    assert g.antipodal == ((0, 1), (2, 3)) and g.kept.tolist() == [True] * 4 + [False]
    assert g.share == pytest.approx(1.0) and g.coords.shape == (5, 2)
    # the coordinates are an isometry of the rows (d = 2: nothing is lost), signs fixed
    np.testing.assert_allclose(g.coords @ g.coords.T, w @ w.T, atol=1e-12)
    assert all(axis[np.abs(axis).argmax()] > 0 for axis in g.axes)
    np.testing.assert_allclose(sp.geometry(-w).coords, -g.coords, atol=1e-12)  # same axes
    # a triangle at 120 degrees is no antipodal pair; in 3-D its plane carries it all
    angles = np.array([0, 2, 4]) * np.pi / 3
    tri = np.c_[np.cos(angles), np.sin(angles), np.zeros(3)]
    g3 = sp.geometry(tri, 3)
    assert g3.antipodal == () and g3.coords.shape == (3, 3)
    np.testing.assert_allclose(np.linalg.norm(g3.coords, axis=1), 1.0)
    assert np.abs(g3.coords[:, 2]).max() < 1e-9  # the third axis carries nothing
    # a pair that is only nearly opposite counts within the tolerance, not beyond it
    near = np.array([[1.0, 0.0], [-1.0, 0.2]])
    assert sp.geometry(near).antipodal == ((0, 1),)
    assert sp.geometry(near, tolerance=0.001).antipodal == ()
    with pytest.raises(rasp.RaspcValueError, match="dims must be an int"):
        sp.geometry(w, 0)


def test_geometry_of_a_model_is_what_the_plot_draws(tmp_path, squeezed):
    model, _ = squeezed
    labels = model.residual_labels
    # squeeze two features onto one direction, opposite signs: one antipodal pair
    i, j = labels.index("tokens:a"), labels.index("tokens:b")
    keep = [k for k in range(len(labels)) if k != j]
    write = np.eye(len(labels))[:, keep]
    write[j, keep.index(i)] = -1.0
    small = CompressedModel(model, write, write.T[None])
    g = sp.geometry(small)
    assert g.antipodal == (tuple(sorted((i, j))),)
    assert sp.plot_geometry(small, tmp_path / "g.svg").read_text().count("stroke-dasharray") >= 1


def test_label_count_must_match():
    with pytest.raises(rasp.RaspcValueError, match="expected 2 labels"):
        sp.classify_features(np.eye(2), ["only one"])


@pytest.fixture(scope="module")
def squeezed():
    """frac_prevs by hand: tokens:b dropped, the map and frac_prevs share one direction."""
    program = lib.make_frac_prevs(rasp.tokens == "a")
    model = compiler.compile_rasp_to_model(program, {"a", "b"}, 3)
    labels = model.residual_labels
    keep = [i for i, label in enumerate(labels) if label != "tokens:b"]
    write = np.eye(len(labels))[:, keep]
    return model, CompressedModel(model, write, write.T[None])


def test_feature_stats_and_usage_of_a_model(squeezed):
    _, small = squeezed
    stats = {s.label: s.status for s in sp.feature_stats(small)}
    assert stats["tokens:b"] == "dropped"
    assert all(status == "orthogonal" for label, status in stats.items() if label != "tokens:b")
    usage = {u.label: u for u in sp.feature_usage(small)}
    # without tokens:a no x is seen: most outputs change; tokens:b is read by nothing
    assert usage["tokens:a"].importance > 0.5 and usage["tokens:b"].importance == 0.0
    assert 0 < usage["tokens:a"].activity < 1 and usage["frac_prevs"].node == "frac_prevs"
    with pytest.raises(rasp.RaspcTypeError):
        sp.feature_stats(np.eye(3))


def test_node_decodability_finds_what_broke_first(squeezed):
    model, _ = squeezed
    labels = model.residual_labels
    # drop the map's direction: the map and everything reading it stop decoding
    map_label = next(n for n in model.layout.nodes if n.startswith("map"))
    (i_map,) = model.layout.nodes[map_label].residual
    keep = [i for i in range(len(labels)) if i != i_map]
    broken = CompressedModel(model, np.eye(len(labels))[:, keep], np.eye(len(labels))[keep][None])
    rows = {r.label: r for r in sp.node_decodability(broken)}
    assert rows["tokens"].accuracy == 1.0 and rows["indices"].accuracy == 1.0
    assert rows[labels[i_map]].accuracy < 1.0 and rows["frac_prevs"].accuracy < 1.0
    assert rows[labels[i_map]].computed_by and rows[labels[i_map]].ready >= 0
    assert rows[labels[i_map]].mean_dimensionality == 0.0


@pytest.mark.parametrize("suffix", [".png", ".svg"])
def test_plots_write_files(tmp_path, squeezed, suffix):
    _, small = squeezed
    written = [
        sp.plot_gram(small, tmp_path / f"gram{suffix}"),
        sp.plot_features(small, tmp_path / f"features{suffix}"),
        sp.plot_geometry(small, tmp_path / f"geometry{suffix}"),
        sp.plot_nodes(small, tmp_path / f"nodes{suffix}"),
    ]
    for path in written:
        assert path.suffix == suffix and path.stat().st_size > 1000
    with pytest.raises(rasp.RaspcValueError, match="no training history"):
        sp.plot_history(small, tmp_path / f"history{suffix}")


def test_unknown_image_format_is_refused(tmp_path, squeezed):
    with pytest.raises(rasp.RaspcValueError, match=r"expected a \.png or \.svg suffix"):
        sp.plot_gram(squeezed[1], tmp_path / "gram.jpg")


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
    for name in ("sweep.png", "sweep.svg", "table.txt", "results.json", "cells.csv"):
        assert (out / name).stat().st_size > 0
    results = json.loads((out / "results.json").read_text())
    assert results["frontier"]["frac_prevs"]["best"] is not None
    assert list(out.glob("*_gram.png")) and list(out.glob("*_geometry.svg"))
