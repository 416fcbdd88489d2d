"""Every library program compiles to the shapes pinned in ``tests/golden/layouts/``.

Each golden records, for the whole-input and the causal compile, the layers, the
heads and MLP blocks of each layer (by node, with hidden sizes), each head's QK/OV
shapes, the residual directions in order and the model config.  Refactors must
leave them unchanged.  When a change is *meant* to alter shapes, regenerate with

    python -m tests.golden.regenerate [program ...]

and say in the commit why the shapes changed; a golden that changes by accident is
a bug to find, not a file to refresh.
"""

from __future__ import annotations

import json

import pytest

from rasp.lib import LIBRARY
from tests.golden.shapes import GOLDEN_DIR, golden_path, library_shape, render


@pytest.mark.parametrize("name", sorted(LIBRARY))
def test_library_program_matches_its_golden_layout(name):
    path = golden_path(name)
    assert path.exists(), f"no golden for {name}; run python -m tests.golden.regenerate {name}"
    want = json.loads(path.read_text())
    got = library_shape(name)
    for mode in ("whole", "causal"):
        assert got[mode] == want[mode], (
            f"{name} ({mode}) compiles to other shapes than {path.name}; find why before "
            "regenerating (python -m tests.golden.regenerate)"
        )


def test_every_golden_names_a_library_program():
    names = {p.stem for p in GOLDEN_DIR.glob("*.json")}
    assert names == set(LIBRARY)


def test_goldens_are_rendered_stably():
    """The files are exactly what the regeneration command writes (no hand edits)."""
    for name in sorted(LIBRARY):
        path = golden_path(name)
        assert path.read_text() == render(json.loads(path.read_text()))
