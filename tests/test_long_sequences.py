"""Attention stays hard and MLPs stay exact at long lengths: library programs at
max_seq_len 64, and reverse, hist and sort_unique at 128, on 500 random inputs each
(the full library at 64: benchmarks/long_sequences.py)."""

from __future__ import annotations

import pytest

from rasp.lib import LIBRARY
from tests.helpers import assert_compiles_exactly

AT_64 = [
    "frac_prevs",
    "shuffle_dyck2",
    "sort",
    "count_less_freq",
    "detect_pattern",
    "pair_balance",
    "shift_by",
    "majority",
    "unique_count",
    "max",
]


@pytest.mark.parametrize("name", AT_64)
def test_library_program_at_length_64(name):
    entry = LIBRARY[name]
    assert_compiles_exactly(entry.build(64), set(entry.vocab), 64, samples=500)


@pytest.mark.parametrize("name", ["reverse", "hist", "sort_unique"])
def test_library_program_at_length_128(name):
    entry = LIBRARY[name]
    assert_compiles_exactly(entry.build(128), set(entry.vocab), 128, samples=500)
