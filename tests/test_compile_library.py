"""Every library program compiles, and the model matches the evaluator at every node on
every input up to the registry's max_seq_len (exhaustive: at most 20,000 inputs).

With causal=True each program either compiles into a left-to-right model that matches
the causal evaluator, or is refused with an input that shows it reads later positions.
"""

from __future__ import annotations

import pytest

import compiler
import rasp
from rasp.lib import LIBRARY
from tests.helpers import assert_compiles_exactly

PREFIX_PROGRAMS = {"frac_prevs", "running_count", "shift_by", "dyck1_prefix", "parity"}


@pytest.mark.parametrize("name", sorted(LIBRARY))
def test_library_program_compiles_exactly(name):
    entry = LIBRARY[name]
    program = entry.build(entry.max_seq_len)
    assert_compiles_exactly(program, set(entry.vocab), entry.max_seq_len)


@pytest.mark.parametrize("name", sorted(LIBRARY))
def test_library_program_causal_compile_is_exact_or_refused(name):
    entry = LIBRARY[name]
    program = entry.build(entry.max_seq_len)
    try:
        compiler.compile_rasp(program, set(entry.vocab), entry.max_seq_len, causal=True)
    except rasp.UnsupportedProgramError as err:
        assert name not in PREFIX_PROGRAMS, str(err)
        assert "depends on later positions" in str(err)
        return
    assert_compiles_exactly(program, set(entry.vocab), entry.max_seq_len, causal=True)


def test_prefix_programs_are_accepted_causally():
    assert set(LIBRARY) >= PREFIX_PROGRAMS
    for name in PREFIX_PROGRAMS:
        entry = LIBRARY[name]
        compiler.compile_rasp(
            entry.build(entry.max_seq_len), set(entry.vocab), entry.max_seq_len, causal=True
        )
