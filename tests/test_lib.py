"""The standard library: every program against its plain-Python reference.

Each registry program is checked on every input length from 1 to its
``max_seq_len`` (all inputs where there are few, a seeded sample otherwise),
for the compiler's constraints, for unique labels and, where the registry
says so, for prefix consistency under causal evaluation.
"""

from __future__ import annotations

import inspect
import itertools
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import compiler
import rasp
from rasp import lib
from rasp import reference as ref
from rasp.lib import LIBRARY, LibraryProgram

EXHAUSTIVE_LIMIT = 256  # inputs per length checked exhaustively up to this many
SAMPLES = 80  # otherwise, this many seeded random inputs per length


def inputs_for(entry: LibraryProgram, length: int) -> list[list]:
    """All inputs of this length, or a seeded sample (plus bracket-friendly ones)."""
    total = len(entry.vocab) ** length
    if total <= EXHAUSTIVE_LIMIT:
        return [list(xs) for xs in itertools.product(entry.vocab, repeat=length)]
    rng = random.Random(f"{entry.name}/{length}")
    out = [[rng.choice(entry.vocab) for _ in range(length)] for _ in range(SAMPLES)]
    if "dyck" in entry.name:
        out += [_bracket_walk(rng, entry.vocab, length) for _ in range(SAMPLES)]
    return out


def _bracket_walk(rng: random.Random, vocab: tuple, length: int) -> list:
    """A random bracket string that mostly stays valid (so T and P labels occur)."""
    pairs = [(vocab[k], vocab[k + 1]) for k in range(0, len(vocab) - 1, 2)]
    stack: list = []
    out: list = []
    for _ in range(length):
        if stack and rng.random() < 0.5:
            out.append(stack.pop() if rng.random() < 0.9 else rng.choice(pairs)[1])
        else:
            open_token, close_token = rng.choice(pairs)
            stack.append(close_token)
            out.append(open_token)
    return out


ENTRIES = sorted(LIBRARY.values(), key=lambda e: e.name)
IDS = [e.name for e in ENTRIES]


@pytest.fixture(scope="module", params=ENTRIES, ids=IDS)
def entry(request) -> LibraryProgram:
    return request.param


def test_registry_is_complete_and_well_formed():
    assert len(LIBRARY) >= 25
    for name, e in LIBRARY.items():
        assert e.name == name
        assert e.vocab and isinstance(e.vocab, tuple)
        assert e.description and callable(e.reference) and callable(e.build)
        assert 1 <= e.max_seq_len <= 8
    with pytest.raises(AttributeError):
        LIBRARY["hist"].name = "other"  # type: ignore[misc]


def test_program_matches_reference_on_every_length(entry, same):
    program = entry.build(entry.max_seq_len)
    for length in range(1, entry.max_seq_len + 1):
        for xs in inputs_for(entry, length):
            got = rasp.evaluate(program, xs)
            want = entry.reference(xs)
            assert same(got, want), f"{entry.name} on {xs}: {got} != {want}"


@pytest.mark.parametrize("entry", [e for e in ENTRIES if e.causal], ids=lambda e: e.name)
def test_causal_programs_answer_for_the_prefix(entry, same):
    program = entry.build(entry.max_seq_len)
    rng = random.Random(entry.name)
    for _ in range(40):
        xs = [rng.choice(entry.vocab) for _ in range(rng.randint(1, entry.max_seq_len))]
        causal = rasp.evaluate(program, xs, causal=True)
        for i in range(len(xs)):
            prefix = rasp.evaluate(program, xs[: i + 1])
            assert same([causal[i]], [prefix[i]]), (entry.name, xs, i)


def test_labels_are_unique_within_a_program(entry):
    program = entry.build(entry.max_seq_len)
    nodes = rasp.postorder(program)
    labels = [n.label for n in nodes]
    assert len(labels) == len(set(labels)), sorted(labels)
    assert program.name is not None, "the output carries a descriptive name"


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.name)
def test_program_is_accepted_by_the_compiler(entry):
    # the compiler's own validation is the one statement of what compiles
    compiler.compile_rasp(entry.build(entry.max_seq_len), set(entry.vocab), entry.max_seq_len)


def test_max_seq_len_is_used_by_sorts():
    short = LIBRARY["sort"].build(3)
    assert rasp.evaluate(short, [3, 1, 3]) == [1, 3, 3]
    assert rasp.evaluate(lib.make_sort_freq(3), [1, 2, 2]) == [2, 2, 1]


# ---------------------------------------------------------------- shared nodes and names


def test_length_and_hist_are_shared_singletons():
    assert lib.make_length() is lib.make_length()
    assert lib.make_hist() is lib.make_hist()
    assert lib.make_length().label == "length"
    assert lib.make_hist().label == "hist"


def test_combined_library_programs_keep_unique_labels():
    program = rasp.SequenceMap(
        lambda a, b: (a, b), lib.make_majority(), lib.make_reverse(lib.make_double_hist())
    )
    labels = [n.label for n in rasp.postorder(program)]
    assert len(labels) == len(set(labels))
    assert labels.count("length") == 1 and labels.count("hist") == 1


def test_frac_prevs_of_a_named_categorical_gets_its_own_label():
    flags = (rasp.tokens == "a").named("is_a")
    both = rasp.SequenceMap(lambda x, y: (x, y), flags, lib.make_frac_prevs(flags))
    labels = [n.label for n in rasp.postorder(both)]
    assert len(labels) == len(set(labels))
    assert "is_a_numerical" in labels


def test_frac_prevs_keeps_a_numerical_input(same):
    flags = rasp.numerical(rasp.tokens == 1)
    program = lib.make_frac_prevs(flags)
    assert program.sop is flags
    assert same(rasp.evaluate(program, [1, 0, 1, 1]), [1, 0.5, 2 / 3, 0.75])


def test_public_functions_have_examples():
    for name in lib.__all__:
        obj = getattr(lib, name)
        if inspect.isfunction(obj):
            assert obj.__doc__ and ">>>" in obj.__doc__, name


# ---------------------------------------------------------------- parameters and variants


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 9), min_size=1, max_size=8))
def test_sort_is_a_stable_sort(xs):
    program = lib.make_sort(rasp.tokens, rasp.tokens, max_seq_len=8, min_key=1)
    assert rasp.evaluate(program, xs) == sorted(xs)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 9), min_size=1, max_size=8))
def test_sort_values_by_other_keys(keys):
    vals = rasp.Map(lambda k: f"v{k}", rasp.tokens)
    minus = rasp.Map(lambda k: -k, rasp.tokens)
    program = lib.make_sort(vals, minus, max_seq_len=8, min_key=1)
    order = sorted(range(len(keys)), key=lambda i: (-keys[i], i))
    assert rasp.evaluate(program, keys) == [f"v{keys[i]}" for i in order]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 20), min_size=1, max_size=8, unique=True))
def test_sort_unique_sorts_distinct_keys(xs):
    assert rasp.evaluate(lib.make_sort_unique(rasp.tokens, rasp.tokens), xs) == sorted(xs)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.sampled_from("(){}[]x"), min_size=1, max_size=8))
def test_dyck_prefix_three_types_with_other_tokens(xs):
    pairs = ["()", "{}", "[]"]
    assert rasp.evaluate(lib.make_dyck_prefix(pairs), xs) == ref.dyck_prefix(pairs)(xs)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.sampled_from("(){}x"), min_size=1, max_size=8))
def test_shuffle_dyck_ignores_other_tokens(xs):
    pairs = ["()", "{}"]
    assert rasp.evaluate(lib.make_shuffle_dyck(pairs), xs) == ref.shuffle_dyck(pairs)(xs)


def test_dyck_labels_from_the_paper_examples():
    dyck2 = lib.make_dyck2_prefix()
    assert rasp.evaluate(dyck2, list("({})")) == ["P", "P", "P", "T"]
    assert rasp.evaluate(dyck2, list("({)}")) == ["P", "P", "F", "F"]
    assert rasp.evaluate(dyck2, list(")(")) == ["F", "F"]
    assert rasp.evaluate(lib.make_dyck1_prefix(), list("()())")) == ["P", "T", "P", "T", "F"]


def test_shuffle_dyck_accepts_interleaved_types():
    assert rasp.evaluate(lib.make_shuffle_dyck2(), list("({)}")) == [True] * 4
    assert rasp.evaluate(lib.make_dyck2_prefix(), list("({)}"))[-1] == "F"


def test_bracket_programs_reject_bad_pairs():
    for maker in (lib.make_shuffle_dyck, lib.make_dyck_prefix):
        with pytest.raises(rasp.RaspcValueError):
            maker([])
        with pytest.raises(ValueError, match="open and a close"):
            maker(["(]x"])


def test_pair_balance_names_each_side():
    program = lib.make_pair_balance(rasp.tokens, "(", ")")
    labels = {n.label for n in rasp.postorder(program)}
    assert {"frac_open_(", "frac_close_)", "pair_balance"} <= labels
    assert rasp.is_numerical(program)


@pytest.mark.parametrize("offset", [-2, -1, 0, 1, 3])
def test_shift_by_any_offset(offset):
    xs = list("abcde")
    assert rasp.evaluate(lib.shift_by(offset, rasp.tokens), xs) == ref.shift_by(offset)(xs)


def test_shift_by_numerical_pads_with_zero():
    program = lib.shift_by(1, rasp.numerical(rasp.Map(lambda x: x * 2, rasp.tokens)))
    assert rasp.is_numerical(program)
    assert rasp.evaluate(program, [1, 2, 3]) == [0, 2, 4]


def test_reverse_of_numerical_sop_stays_numerical():
    program = lib.make_reverse(rasp.numerical(rasp.Map(lambda x: x + 0.5, rasp.tokens)))
    assert rasp.is_numerical(program)
    assert rasp.evaluate(program, [1, 2]) == [2.5, 1.5]


@pytest.mark.parametrize("pattern", ["a", "ab", "aba", [1, 2]])
def test_detect_pattern_lengths(pattern):
    vocab = [*pattern, "z"]
    rng = random.Random(str(pattern))
    program = lib.detect_pattern(rasp.tokens, pattern)
    for _ in range(40):
        xs = [rng.choice(vocab) for _ in range(rng.randint(1, 7))]
        assert rasp.evaluate(program, xs) == ref.detect_pattern(pattern)(xs), xs


def test_detect_pattern_rejects_empty_pattern():
    with pytest.raises(ValueError, match="non-empty"):
        lib.detect_pattern(rasp.tokens, [])


def test_count_and_count_less_freq():
    xs = ["a", "a", "c", "b", "b", "c"]
    assert rasp.evaluate(lib.make_count(rasp.tokens, "c"), xs) == [2] * 6
    assert rasp.evaluate(lib.make_count(rasp.tokens, "q"), xs) == [0] * 6
    assert rasp.evaluate(lib.make_count_less_freq(2), xs) == [6] * 6
    assert rasp.evaluate(lib.make_count_less_freq(1), xs) == [0] * 6


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(-5, 5), min_size=1, max_size=8))
def test_min_max_argmax(xs):
    assert rasp.evaluate(lib.make_min(rasp.tokens), xs) == ref.minimum(xs)
    assert rasp.evaluate(lib.make_max(rasp.tokens), xs) == ref.maximum(xs)
    assert rasp.evaluate(lib.make_argmax(rasp.tokens), xs) == ref.argmax(xs)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from("abcd"), min_size=1, max_size=9))
def test_token_statistics(xs):
    assert rasp.evaluate(lib.make_hist(), xs) == ref.hist(xs)
    assert rasp.evaluate(lib.make_double_hist(), xs) == ref.double_hist(xs)
    assert rasp.evaluate(lib.make_most_freq(), xs) == ref.most_freq(xs)
    assert rasp.evaluate(lib.make_sort_freq(9), xs) == ref.sort_freq(xs)
    assert rasp.evaluate(lib.make_unique_count(rasp.tokens), xs) == ref.unique_count(xs)
    assert rasp.evaluate(lib.make_induction(rasp.tokens), xs) == ref.induction(xs)
    assert rasp.evaluate(lib.make_majority(), xs) == ref.majority(xs)
    assert rasp.evaluate(lib.make_is_palindrome(rasp.tokens), xs) == ref.is_palindrome(xs)


def test_unique_count_under_causal_evaluation_counts_the_prefix():
    xs = list("abacbd")
    got = rasp.evaluate(lib.make_unique_count(rasp.tokens), xs, causal=True)
    assert got == [len(set(xs[: i + 1])) for i in range(len(xs))]


def test_induction_attends_to_exactly_one_position():
    # A categorical Aggregate over differing values would raise; repeated tokens
    # with different successors exercise the occurrence numbering.
    xs = list("abacadab")
    assert rasp.evaluate(lib.make_induction(rasp.tokens), xs) == ref.induction(xs)


def test_nary_sequencemap_arities():
    one = lib.make_nary_sequencemap(lambda x: x * 10, rasp.tokens)
    two = lib.make_nary_sequencemap(lambda x, i: x - i, rasp.tokens, rasp.indices)
    four = lib.make_nary_sequencemap(
        lambda a, b, c, d: (a, b, c, d), rasp.tokens, rasp.indices, rasp.tokens, rasp.indices
    )
    assert rasp.evaluate(one, [1, 2]) == [10, 20]
    assert rasp.evaluate(two, [5, 5]) == [5, 4]
    assert rasp.evaluate(four, [7, 8]) == [(7, 0, 7, 0), (8, 1, 8, 1)]
    with pytest.raises(ValueError):
        lib.make_nary_sequencemap(lambda: 0)


def test_nary_sequencemap_of_tuple_values():
    pairs = rasp.Map(lambda x: (x, x), rasp.tokens)
    program = lib.make_nary_sequencemap(lambda p, i: p[0] + i, pairs, rasp.indices)
    assert rasp.evaluate(program, [3, 3]) == [3, 4]


def test_nary_sequencemap_passes_none_through():
    shifted = lib.shift_by(1, rasp.tokens)
    program = lib.make_nary_sequencemap(lambda a, b: a + b, shifted, rasp.tokens)
    assert rasp.evaluate(program, [1, 2, 3]) == [None, 3, 5]


def test_running_count_and_parity():
    assert rasp.evaluate(lib.make_running_count(rasp.tokens, 1), [1, 0, 1, 1]) == [1, 1, 2, 3]
    assert rasp.evaluate(lib.make_parity(rasp.tokens), [0, 1, 1, 0, 1]) == [0, 1, 0, 0, 1]
