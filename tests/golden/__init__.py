"""Golden files: pinned outputs the refactors must not change (see :mod:`tests.golden.shapes`)."""
