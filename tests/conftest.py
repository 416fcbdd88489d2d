"""Shared test helpers.

The ``same`` fixture compares two output lists the way the project defines
agreement: ``None`` only matches ``None``; numbers match when Python calls them
equal (``1 == 1.0 == True``) or, for floats, when they agree to float
tolerance; anything else must be ``==``.  It is session-scoped, so hypothesis
tests may use it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import pytest

import compiler
import rasp
from rasp import lib


def _same(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    number = (bool, int, float)
    if isinstance(a, number) and isinstance(b, number):
        return a == b or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return a == b


def same_values(got: Sequence[Any], expected: Sequence[Any]) -> bool:
    """True if the two output lists agree position by position."""
    got, expected = list(got), list(expected)
    return len(got) == len(expected) and all(map(_same, got, expected))


@pytest.fixture(scope="session")
def same() -> Callable[[Sequence[Any], Sequence[Any]], bool]:
    """``same(got, expected)``: the two output lists agree position by position."""
    return same_values


# Small compiled models that several test modules inspect (cache, decoding, export).


@pytest.fixture(scope="session")
def reverse():
    """reverse over {a, b, c}, max_seq_len 4."""
    return compiler.compile_rasp_to_model(lib.make_reverse(rasp.tokens), {"a", "b", "c"}, 4)


@pytest.fixture(scope="session")
def frac():
    """frac_prevs of "a" over {a, b}, max_seq_len 4, causal."""
    program = lib.make_frac_prevs(rasp.tokens == "a")
    return compiler.compile_rasp_to_model(program, {"a", "b"}, 4, causal=True)
