"""Rewrite the golden layout files: ``python -m tests.golden.regenerate [program ...]``.

Only run this when a change is meant to alter compiled shapes; a golden that
changes by accident is a bug to find, not a file to refresh."""

from __future__ import annotations

import sys

from rasp.lib import LIBRARY
from tests.golden.shapes import GOLDEN_DIR, golden_path, library_shape, render


def main(names: list[str]) -> None:
    GOLDEN_DIR.mkdir(parents=True, exist_ok=True)
    for name in names or sorted(LIBRARY):
        if name not in LIBRARY:
            raise SystemExit(f"unknown library program {name!r}; known: {', '.join(LIBRARY)}")
        golden_path(name).write_text(render(library_shape(name)))
        print(f"wrote {golden_path(name)}")


if __name__ == "__main__":
    main(sys.argv[1:])
