"""Every program of Tracr's own ``lib.py``, its source run on raspc, compiles and is exact.

Tracr's ``compiler/lib.py`` is loaded from the installed ``tracr-pypi`` with its
one import swapped (``tracr.rasp.rasp`` -> ``rasp``; see ``tests/tracr_port.py``),
so each function builds a raspc program from Tracr's unchanged source.  Each is
compiled at a vocabulary and length Tracr's own test cases use for it, and the
model's output is compared, input by input, with *Tracr's* evaluator running
the same function from Tracr's real ``lib`` on Tracr's real RASP.

Inputs outside a program's domain are skipped: where raspc's evaluator refuses
(a categorical Aggregate whose selected values differ, which Tracr averages) or
Tracr's evaluator raises (a comparison with None).  Each case must still
compare most of its inputs.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import pytest

import compiler
import rasp
from models.verification import input_space, values_match
from tests.tracr_port import ported_lib, tracr_file

trasp = pytest.importorskip("tracr.rasp.rasp")
tlib = pytest.importorskip("tracr.compiler.lib")
plib = ported_lib()

ABCD = ("a", "b", "c", "d")
INTS = (1, 2, 3, 4)
BRACKETS2 = ("(", ")", "{", "}")
BRACKETS3 = ("(", ")", "{", "}", "[", "]")

# case -> (Tracr lib name, build(rasp module, lib module), vocab, max_seq_len): vocabularies
# and lengths from Tracr's compiler/test_cases.py for the functions it tests.
CASES: dict[str, tuple[str, Callable, tuple, int]] = {
    "length": ("length", lambda r, L: L.length, ABCD, 5),
    "make_length": ("make_length", lambda r, L: L.make_length(), ABCD, 5),
    "make_reverse": ("make_reverse", lambda r, L: L.make_reverse(r.tokens), ABCD, 5),
    "make_pair_balance": (
        "make_pair_balance",
        lambda r, L: L.make_pair_balance(r.tokens, "(", ")"),
        ("a", "b", "c", "(", ")"),
        10,
    ),
    "make_shuffle_dyck2": (
        "make_shuffle_dyck",
        lambda r, L: L.make_shuffle_dyck(pairs=["()", "{}"]),
        BRACKETS2,
        5,
    ),
    "make_shuffle_dyck3": (
        "make_shuffle_dyck",
        lambda r, L: L.make_shuffle_dyck(pairs=["()", "{}", "[]"]),
        BRACKETS3,
        6,
    ),
    "make_shuffle_dyck2_named": (
        "make_shuffle_dyck2",
        lambda r, L: L.make_shuffle_dyck2(),
        BRACKETS2,
        5,
    ),
    "make_hist": ("make_hist", lambda r, L: L.make_hist(), ABCD, 5),
    "make_sort_unique": (
        "make_sort_unique",
        lambda r, L: L.make_sort_unique(vals=r.tokens, keys=r.tokens),
        INTS,
        5,
    ),
    "make_sort_unique_by_index": (
        "make_sort_unique",
        lambda r, L: L.make_sort_unique(vals=r.tokens, keys=1 - r.indices),
        ABCD,
        5,
    ),
    "make_sort": (
        "make_sort",
        lambda r, L: L.make_sort(vals=r.tokens, keys=r.tokens, max_seq_len=5, min_key=1),
        INTS,
        5,
    ),
    "make_sort_by_index": (
        "make_sort",
        lambda r, L: L.make_sort(vals=r.tokens, keys=1 - r.indices, max_seq_len=5, min_key=1),
        ABCD,
        5,
    ),
    "make_sort_freq": ("make_sort_freq", lambda r, L: L.make_sort_freq(max_seq_len=5), INTS, 5),
    "make_frac_prevs": (
        "make_frac_prevs",
        lambda r, L: L.make_frac_prevs(r.tokens == "l"),
        ("h", "e", "l", "o"),
        5,
    ),
    "shift_by": ("shift_by", lambda r, L: L.shift_by(2, r.tokens), ABCD, 5),
    "detect_pattern": (
        "detect_pattern",
        lambda r, L: L.detect_pattern(r.tokens, "abc"),
        ("a", "b", "c"),
        6,
    ),
    "make_count_less_freq": (
        "make_count_less_freq",
        lambda r, L: L.make_count_less_freq(n=2),
        ABCD,
        6,
    ),
    "make_count": ("make_count", lambda r, L: L.make_count(r.tokens, "a"), ABCD, 5),
    "make_nary_sequencemap": (
        "make_nary_sequencemap",
        lambda r, L: L.make_nary_sequencemap(
            lambda x, i, y: x * 100 + i * 10 + y, r.tokens, r.indices, r.tokens
        ),
        (1, 2, 3),
        4,
    ),
}


def _tracr_lib_functions() -> set[str]:
    """The public functions and programs Tracr's lib.py defines (not ones it imports)."""
    path = str(tracr_file("compiler/lib.py"))
    names = set()
    for name, obj in vars(plib).items():
        if name.startswith("_"):
            continue
        if (inspect.isfunction(obj) and obj.__code__.co_filename == path) or isinstance(
            obj, rasp.RASPExpr
        ):
            names.add(name)
    return names


def test_every_function_of_tracr_lib_has_a_case():
    names = _tracr_lib_functions()
    assert {"make_sort", "make_shuffle_dyck", "length"} <= names
    assert names == {lib_name for lib_name, *_ in CASES.values()}


def test_the_ported_lib_builds_raspc_programs():
    assert plib.rasp is rasp
    assert isinstance(plib.make_hist(), rasp.SOp)


def _tracr_value(program, xs):
    try:
        return trasp.evaluate(program, xs)
    except Exception:  # Tracr's evaluator raises on some inputs (e.g. None in a Select)
        return None


@pytest.mark.parametrize("case", sorted(CASES))
def test_tracr_lib_program_compiles_and_matches_tracr(case):
    _, build, vocab, max_seq_len = CASES[case]
    ours, theirs = build(rasp, plib), build(trasp, tlib)
    model = compiler.compile_rasp_to_model(ours, set(vocab), max_seq_len)
    inputs = input_space(vocab, max_seq_len, samples=300, seed=12)
    kept, wanted = [], []
    for xs in inputs:
        try:
            rasp.evaluate(ours, xs)
        except rasp.EvaluationError:
            continue  # outside raspc's domain: the model promises nothing there
        want = _tracr_value(theirs, xs)
        if want is not None:
            kept.append(xs)
            wanted.append(want)
    assert len(kept) >= len(inputs) // 3, f"{case}: only {len(kept)} of {len(inputs)} compared"
    for xs, want, got in zip(kept, wanted, model.run_batch(kept)):
        assert len(got) == len(want), (case, xs)
        assert all(values_match(w, g) for w, g in zip(want, got)), (
            f"{case} on {xs}: model {got}, Tracr's evaluator {want}"
        )
