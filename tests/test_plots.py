"""Each plot writes a non-empty PNG or SVG and refuses what it cannot draw."""

from __future__ import annotations

import pytest

import compiler
import rasp
from compiler.circuit import circuit_map
from models import plots
from rasp import lib

pytest.importorskip("matplotlib")

TOKENS = ["compiler_bos", "a", "b", "c"]


@pytest.fixture(scope="module")
def model():
    return compiler.compile_rasp_to_model(lib.make_reverse(rasp.tokens), {"a", "b", "c"}, 4)


@pytest.mark.parametrize(
    ("name", "draw"),
    [
        ("residual.png", lambda m, p: plots.plot_residual(m, TOKENS, p)),
        ("attention.svg", lambda m, p: plots.plot_attention(m, TOKENS, p)),
        ("qk.png", lambda m, p: plots.plot_weights(m, p, layer=2, head=0, matrix="qk")),
        ("ov.svg", lambda m, p: plots.plot_weights(m, p, layer=2, matrix="ov")),
        ("mlp.png", lambda m, p: plots.plot_weights(m, p, layer=1, matrix="mlp")),
        ("circuit.svg", lambda m, p: plots.plot_circuit(m, p)),
        ("merged.png", lambda m, p: plots.plot_circuit(circuit_map(m), p, merge_mlps=True)),
    ],
)
def test_plot_writes_a_file(model, tmp_path, name, draw):
    path = draw(model, tmp_path / "sub" / name)
    assert path == tmp_path / "sub" / name
    assert path.stat().st_size > 1000


def test_plots_refuse_bad_requests(model, tmp_path):
    with pytest.raises(rasp.RaspcValueError, match="suffix"):
        plots.plot_circuit(model, tmp_path / "c.pdf")
    with pytest.raises(rasp.RaspcValueError, match="empty"):
        plots.plot_weights(model, tmp_path / "w.png", layer=1, matrix="qk")  # no head there
    with pytest.raises(rasp.RaspcValueError, match="out of range"):
        plots.plot_weights(model, tmp_path / "w.png", layer=7)
    with pytest.raises(rasp.RaspcValueError, match="unknown matrix"):
        plots.plot_weights(model, tmp_path / "w.png", layer=0, matrix="xy")
