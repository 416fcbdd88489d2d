"""examples/ground_truth.py does what it says: finds the flip head, decodes, matches TL."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

pytest.importorskip("transformer_lens")

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "ground_truth.py"


def test_ground_truth_example(capsys):
    example = runpy.run_path(str(EXAMPLE))
    assert example["__doc__"].startswith("Ground truth for interpretability tools")
    result = example["main"]()
    assert (result["layer"], result["head"]) == (2, 0)
    # 4 tokens: position i reads position 5 - i (BOS is position 0)
    assert result["pattern"].argmax(-1)[1:].tolist() == [4, 3, 2, 1]
    assert result["decoded"]["length"] == [4, 4, 4, 4]
    assert result["decoded"]["tokens"] == ["a", "b", "c", "c"]
    assert result["diff"] < 1e-4
    out = capsys.readouterr().out
    assert "output: ['c', 'c', 'b', 'a']" in out
