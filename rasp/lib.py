"""The standard library of RASP programs, and a registry of them for tests.

Names follow Tracr's ``tracr.compiler.lib`` so that a ported program keeps its
calls; every program here is accepted by raspc's compiler (a test compiles
each one).  Where a selector needs two conditions over different SOps, the
programs combine small Selects with ``&`` (one head, each table small) rather
than one Select over a tuple-valued SOp, whose table grows with the product of
the value sets.

Labels: each program names its output (and a few important intermediates);
everything else keeps its automatic, unique label.  ``make_length()`` and
``make_hist()`` return one shared expression, so programs that combine several
library calls still hold a single ``length`` / ``hist`` node.  If one program
uses the same library function twice, rename one output with ``.named()``.

Some programs are only meaningful on the whole input (they compare every
position with every other one); others also hold under
``rasp.evaluate(..., causal=True)``, where position ``i`` gives the program's
answer for the prefix ending at ``i``.  Each docstring says which, and the
registry records it in :attr:`LibraryProgram.causal`.

:data:`LIBRARY` lists every program with a small vocabulary, a maximum length
and a plain-Python reference (see :mod:`rasp.reference`), so the compiler's
tests can compile and check each one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import rasp
from rasp import reference as ref

__all__ = [
    "LIBRARY",
    "LibraryProgram",
    "detect_pattern",
    "length",
    "make_argmax",
    "make_count",
    "make_count_less_freq",
    "make_double_hist",
    "make_dyck1_prefix",
    "make_dyck2_prefix",
    "make_dyck_prefix",
    "make_frac_prevs",
    "make_hist",
    "make_induction",
    "make_is_palindrome",
    "make_length",
    "make_majority",
    "make_max",
    "make_min",
    "make_most_freq",
    "make_nary_sequencemap",
    "make_pair_balance",
    "make_parity",
    "make_reverse",
    "make_running_count",
    "make_shuffle_dyck",
    "make_shuffle_dyck1",
    "make_shuffle_dyck2",
    "make_shuffle_dyck3",
    "make_sort",
    "make_sort_freq",
    "make_sort_unique",
    "make_unique_count",
    "shift_by",
]

TRUE = rasp.Comparison.TRUE
EQ = rasp.Comparison.EQ
LT = rasp.Comparison.LT
LEQ = rasp.Comparison.LEQ
GT = rasp.Comparison.GT


# ---------------------------------------------------------------- helpers


def _gather(selector: rasp.Selector, sop: rasp.SOp) -> rasp.SOp:
    """Aggregate ``sop`` through a selector that picks at most one value per query.

    Keeps ``sop``'s encoding: a numerical input gives a numerical Aggregate
    (default 0), a categorical one a categorical Aggregate (default None).
    """
    if rasp.is_numerical(sop):
        return rasp.numerical(rasp.Aggregate(selector, sop, default=0))
    return rasp.Aggregate(selector, sop)


def _as_number(flags: rasp.SOp) -> rasp.SOp:
    """A numerical SOp holding 1 where ``flags`` is true and 0 elsewhere."""
    return rasp.numerical(rasp.Map(lambda b: 1 if b else 0, flags))


def _where(flags: rasp.SOp) -> rasp.Selector:
    """Every query selects the keys at which ``flags`` is true."""
    return rasp.Select(flags, rasp.indices, lambda key, query: bool(key))


def _occurrence(sop: rasp.SOp) -> rasp.SOp:
    """How many of the positions ``0..i`` hold the same value as position ``i`` (from 1)."""
    upto = rasp.Select(rasp.indices, rasp.indices, LEQ)
    return rasp.SelectorWidth(rasp.Select(sop, sop, EQ) & upto)


def _first_best(score: rasp.SOp) -> rasp.SOp:
    """True at the first position whose ``score`` no other position beats (``>``):
    no position scores higher and no earlier position scores the same."""
    beaten = rasp.SelectorWidth(rasp.Select(score, score, GT))
    earlier = rasp.Select(rasp.indices, rasp.indices, LT)
    tied_before = rasp.SelectorWidth(rasp.Select(score, score, EQ) & earlier)
    return rasp.SequenceMap(lambda b, t: b == 0 and t == 0, beaten, tied_before)


# ---------------------------------------------------------------- length, reverse, histograms


def _build_length() -> rasp.SOp:
    every_token = rasp.Select(rasp.tokens, rasp.tokens, TRUE)
    return rasp.SelectorWidth(every_token).named("length")


_LENGTH = _build_length()
length = _LENGTH
"""The shared ``length`` program (Tracr's ``lib.length``): ``make_length()``."""


def make_length() -> rasp.SOp:
    """The input length at every position, built from a selector width.

    Returns one shared expression labelled ``length`` on every call, so several
    library programs in one model share a single length computation.  Do not
    mix it with the primitive ``rasp.length`` (also labelled ``length``) in one
    program.  Under causal evaluation position ``i`` gives ``i + 1``.

    >>> rasp.evaluate(make_length(), ["a", "b", "c"])
    [3, 3, 3]
    """
    return _LENGTH


def make_reverse(sop: rasp.SOp) -> rasp.SOp:
    """``sop`` backwards: position ``i`` reads position ``length - 1 - i``.

    >>> rasp.evaluate(make_reverse(rasp.tokens), [1, 2, 3])
    [3, 2, 1]
    """
    mirror = rasp.SequenceMap(lambda n, i: n - 1 - i, make_length(), rasp.indices)
    flip = rasp.Select(rasp.indices, mirror, EQ)
    return _gather(flip, sop).named("reverse")


def _build_hist() -> rasp.SOp:
    same_token = rasp.Select(rasp.tokens, rasp.tokens, EQ)
    return rasp.SelectorWidth(same_token).named("hist")


_HIST = _build_hist()


def make_hist() -> rasp.SOp:
    """How often each position's token occurs in the input (the RASP paper's histogram).

    Like :func:`make_length`, every call returns the same ``hist`` expression.
    Causal: position ``i`` counts the token within the prefix.

    >>> rasp.evaluate(make_hist(), ["a", "b", "a", "c"])
    [2, 1, 2, 1]
    """
    return _HIST


def make_double_hist() -> rasp.SOp:
    """How many distinct tokens occur exactly as often as this position's token.

    The RASP paper's "double histogram".  The positions whose count equals
    ``c`` hold ``c`` copies of each token with that count, so their number
    divided by ``c`` is how many such tokens there are.  Non-causal.

    >>> rasp.evaluate(make_double_hist(), ["a", "a", "b", "c", "d"])
    [1, 1, 3, 3, 3]
    """
    hist = make_hist()
    same_count = rasp.SelectorWidth(rasp.Select(hist, hist, EQ))
    return rasp.SequenceMap(lambda width, c: width // c, same_count, hist).named("double_hist")


# ---------------------------------------------------------------- sorting


def make_sort_unique(vals: rasp.SOp, keys: rasp.SOp) -> rasp.SOp:
    """``vals`` ordered by ascending ``keys``; the keys must be distinct.

    Each position moves to the slot given by how many keys are smaller than
    its own.  With repeated keys, equal keys share a slot (their values must
    then agree) and the slots after it stay empty (None).  Non-causal.

    >>> rasp.evaluate(make_sort_unique(rasp.tokens, rasp.tokens), [2, 4, 3, 1])
    [1, 2, 3, 4]
    """
    smaller = rasp.Select(keys, keys, LT)
    slot = rasp.SelectorWidth(smaller)
    arrive = rasp.Select(slot, rasp.indices, EQ)
    return _gather(arrive, vals).named("sort")


def make_sort(vals: rasp.SOp, keys: rasp.SOp, *, max_seq_len: int, min_key: float) -> rasp.SOp:
    """``vals`` ordered by ascending ``keys``; equal keys keep their input order.

    Each position's target slot is the number of smaller keys plus the number of
    equal keys before it (two selector widths side by side; the second uses
    ``&`` to combine "equal key" with "earlier position").  Exact for any keys:
    ``max_seq_len`` and ``min_key`` are accepted for Tracr's signature and not
    needed.  Non-causal.

    >>> rasp.evaluate(make_sort(rasp.tokens, rasp.tokens, max_seq_len=5, min_key=1), [2, 4, 1, 2])
    [1, 2, 2, 4]
    """
    del max_seq_len, min_key  # the tie-break below needs neither
    smaller = rasp.SelectorWidth(rasp.Select(keys, keys, LT))
    earlier = rasp.Select(rasp.indices, rasp.indices, LT)
    tied_before = rasp.SelectorWidth(rasp.Select(keys, keys, EQ) & earlier)
    target = rasp.SequenceMap(lambda a, b: a + b, smaller, tied_before)
    return rasp.Aggregate(rasp.Select(target, rasp.indices, EQ), vals).named("sort")


def make_sort_freq(max_seq_len: int) -> rasp.SOp:
    """The tokens, most frequent first; equally frequent tokens keep their input order.

    Sorts the tokens by minus their histogram count.  Non-causal.

    >>> rasp.evaluate(make_sort_freq(max_seq_len=5), [2, 4, 2, 1])
    [2, 2, 4, 1]
    """
    minus_count = rasp.Map(lambda c: -c, make_hist())
    ordered = make_sort(rasp.tokens, minus_count, max_seq_len=max_seq_len, min_key=1)
    return ordered.named("sort_freq")


def make_most_freq() -> rasp.SOp:
    """The most frequent token, at every position; a tie goes to the token seen first.

    Definition: among the positions whose token has the highest count, take
    the earliest one, and broadcast its token.  That position is the one no
    position beats on count and no earlier position ties, so the final
    Aggregate reads exactly one key.  Non-causal.

    >>> rasp.evaluate(make_most_freq(), ["b", "a", "c", "a", "b"])
    ['b', 'b', 'b', 'b', 'b']
    """
    top = _first_best(make_hist())
    return rasp.Aggregate(_where(top), rasp.tokens).named("most_freq")


# ---------------------------------------------------------------- fractions and brackets


def make_frac_prevs(bools: rasp.SOp) -> rasp.SOp:
    """The fraction of positions ``0..i`` where ``bools`` is true (numerical).

    From the RASP paper.  A categorical ``bools`` is re-encoded as numerical
    first.  Causal.

    >>> rasp.evaluate(make_frac_prevs(rasp.tokens == "l"), list("hello"))
    [False, 0.0, 0.333..., 0.5, 0.4]
    """
    if not rasp.is_numerical(bools):
        name = bools.name
        bools = rasp.numerical(bools)
        if name is not None:  # the copy must not share the original's name
            bools = bools.named(f"{name}_numerical")
    upto = rasp.Select(rasp.indices, rasp.indices, LEQ)
    return rasp.numerical(rasp.Aggregate(upto, bools, default=0)).named("frac_prevs")


def make_pair_balance(sop: rasp.SOp, open_token: Any, close_token: Any) -> rasp.SOp:
    """(opens - closes) among positions ``0..i``, as a fraction of ``i + 1`` (numerical).

    From the RASP paper: a bracket string is balanced iff this never goes
    negative and ends at 0.  Causal.

    >>> rasp.evaluate(make_pair_balance(rasp.tokens, "(", ")"), list("(()"))
    [1, 1.0, 0.333...]
    """
    opens = make_frac_prevs(rasp.numerical(sop == open_token)).named(f"frac_open_{open_token}")
    closes = make_frac_prevs(rasp.numerical(sop == close_token)).named(f"frac_close_{close_token}")
    balance = rasp.numerical(rasp.LinearSequenceMap(opens, closes, 1, -1))
    return balance.named("pair_balance")


def _pair(pair: Sequence[Any]) -> tuple[Any, Any]:
    if len(pair) != 2:
        raise rasp.RaspcValueError(
            f"a bracket pair needs exactly an open and a close token, found {pair!r}"
        )
    return pair[0], pair[1]


def make_shuffle_dyck(pairs: Sequence[Sequence[Any]]) -> rasp.SOp:
    """True at every position iff each bracket type, on its own, is balanced.

    Shuffle-Dyck from the RASP paper: ``({)}`` is accepted, since the round and
    the curly brackets are each balanced.  ``pairs`` lists (open, close) pairs,
    e.g. ``["()", "{}"]``.  Causal: position ``i`` judges the prefix.

    >>> rasp.evaluate(make_shuffle_dyck(["()", "{}"]), list("({)}"))
    [True, True, True, True]
    >>> rasp.evaluate(make_shuffle_dyck(["()"]), list("())("))
    [False, False, False, False]
    """
    if not pairs:
        raise rasp.RaspcValueError("make_shuffle_dyck needs at least one bracket pair")
    balances = []
    for pair in pairs:
        open_token, close_token = _pair(pair)
        balance = make_pair_balance(rasp.tokens, open_token, close_token)
        balances.append(balance.named(f"balance_{open_token}{close_token}"))

    went_negative = balances[0] < 0
    for balance in balances[1:]:
        went_negative = went_negative | (balance < 0)
    any_negative = rasp.numerical(
        rasp.Aggregate(rasp.Select(rasp.indices, rasp.indices, TRUE), _as_number(went_negative), 0)
    ).named("any_negative")

    closed = balances[0] == 0
    for balance in balances[1:]:
        closed = closed & (balance == 0)
    last = rasp.Map(lambda n: n - 1, make_length())
    closed_at_end = rasp.Aggregate(rasp.Select(rasp.indices, last, EQ), closed)

    never_negative = rasp.Map(lambda frac: frac == 0, any_negative)
    return rasp.SequenceMap(lambda a, b: a and b, closed_at_end, never_negative).named(
        "shuffle_dyck"
    )


def make_shuffle_dyck1() -> rasp.SOp:
    """Shuffle-Dyck with round brackets only (plain Dyck-1 recognition).

    >>> rasp.evaluate(make_shuffle_dyck1(), list("(())"))
    [True, True, True, True]
    """
    return make_shuffle_dyck(["()"]).named("shuffle_dyck1")


def make_shuffle_dyck2() -> rasp.SOp:
    """Shuffle-Dyck with ``()`` and ``{}``.

    >>> rasp.evaluate(make_shuffle_dyck2(), list("({)}"))
    [True, True, True, True]
    """
    return make_shuffle_dyck(["()", "{}"]).named("shuffle_dyck2")


def make_shuffle_dyck3() -> rasp.SOp:
    """Shuffle-Dyck with ``()``, ``{}`` and ``[]``.

    >>> rasp.evaluate(make_shuffle_dyck3(), list("([)]}"))
    [False, False, False, False, False]
    """
    return make_shuffle_dyck(["()", "{}", "[]"]).named("shuffle_dyck3")


def make_dyck_prefix(pairs: Sequence[Sequence[Any]]) -> rasp.SOp:
    """Per prefix, 'T' if balanced, 'P' if it can still be closed, 'F' if it never can.

    The Dyck-k task of the RASP paper (Weiss et al., 2021): brackets must nest
    properly, so with ``["()", "{}"]`` the input ``({)}`` fails at ``)``.
    Tokens that are not brackets are ignored.  Causal.

    How: ``depth`` counts opens minus closes so far (two selector widths).  The
    "level" of an open is the depth after it, of a close the depth before it.
    At each level, opens and closes alternate, so the n-th close at a level
    closes the n-th open at that level: numbering both by ``(level, n)`` lets
    one exact-match head fetch each close's partner.  A prefix fails once a
    close has no partner (the depth goes negative) or a partner of another
    type.  With one bracket type only the depth test is needed.

    >>> rasp.evaluate(make_dyck_prefix(["()"]), list("(()))("))
    ['P', 'P', 'P', 'T', 'F', 'F']
    >>> rasp.evaluate(make_dyck_prefix(["()", "{}"]), list("({})({)"))
    ['P', 'P', 'P', 'T', 'P', 'P', 'F']
    """
    if not pairs:
        raise rasp.RaspcValueError("make_dyck_prefix needs at least one bracket pair")
    code: dict[Any, int] = {}  # +k opens bracket type k, -k closes it (k from 1)
    for k, pair in enumerate(pairs, start=1):
        open_token, close_token = _pair(pair)
        code[open_token], code[close_token] = k, -k

    kind = rasp.Map(lambda t: code.get(t, 0), rasp.tokens)
    upto = rasp.Select(rasp.indices, rasp.indices, LEQ)
    opened = rasp.SelectorWidth(rasp.Select(kind, kind, lambda key, query: key > 0) & upto)
    closed = rasp.SelectorWidth(rasp.Select(kind, kind, lambda key, query: key < 0) & upto)
    depth = rasp.SequenceMap(lambda o, c: o - c, opened, closed).named("dyck_depth")

    if len(pairs) == 1:
        bad = _as_number(rasp.Map(lambda d: d < 0, depth))
    else:
        bad = _as_number(_mismatched_close(kind, depth, code))
    bad_so_far = rasp.numerical(rasp.Aggregate(upto, bad, default=0))
    failed = rasp.Map(lambda frac: frac > 0, bad_so_far).named("dyck_failed")

    def label(has_failed: bool, d: int) -> str:
        if has_failed:
            return "F"
        return "T" if d == 0 else "P"

    return rasp.SequenceMap(label, failed, depth).named("dyck_prefix")


def _mismatched_close(kind: rasp.SOp, depth: rasp.SOp, code: dict[Any, int]) -> rasp.SOp:
    """True at a close that has no open partner, or a partner of another type.

    Selectors combine small tables with ``&`` (bracket kind and level in one, position
    or rank in another) instead of comparing one big tuple, so the model stays small
    at long lengths.
    """

    def level(k: int, d: int) -> tuple[int, int]:
        lvl = d if k > 0 else d + 1 if k < 0 else 0
        return (k, max(lvl, 0))  # level 0 on a close: the depth went negative

    def sign(k: int) -> int:
        return (k > 0) - (k < 0)

    placed = rasp.SequenceMap(level, kind, depth).named("dyck_level")
    same_level = rasp.Select(
        placed, placed, lambda key, query: sign(key[0]) == sign(query[0]) and key[1] == query[1]
    )
    upto = rasp.Select(rasp.indices, rasp.indices, LEQ)
    nth = rasp.SelectorWidth(same_level & upto).named("dyck_rank")
    opens_its_level = rasp.Select(
        placed, placed, lambda key, query: key[0] > 0 and query[0] < 0 and key[1] == query[1]
    )
    partner = opens_its_level & rasp.Select(nth, nth, EQ)
    open_type = rasp.numerical(rasp.Map(lambda t: max(code.get(t, 0), 0), rasp.tokens))
    partner_type = rasp.numerical(rasp.Aggregate(partner, open_type, default=0))
    partner_cat = rasp.Map(lambda x: round(x), partner_type)

    def mismatch(kind_level: tuple[int, int], found: int) -> bool:
        k, lvl = kind_level
        return k < 0 and (lvl == 0 or found != -k)

    return rasp.SequenceMap(mismatch, placed, partner_cat)


def make_dyck1_prefix() -> rasp.SOp:
    """:func:`make_dyck_prefix` for round brackets.

    >>> rasp.evaluate(make_dyck1_prefix(), list("()("))
    ['P', 'T', 'P']
    """
    return make_dyck_prefix(["()"]).named("dyck1_prefix")


def make_dyck2_prefix() -> rasp.SOp:
    """:func:`make_dyck_prefix` for ``()`` and ``{}``.

    >>> rasp.evaluate(make_dyck2_prefix(), list("{()}"))
    ['P', 'P', 'P', 'T']
    """
    return make_dyck_prefix(["()", "{}"]).named("dyck2_prefix")


# ---------------------------------------------------------------- counting, shifting, patterns


def make_count(sop: rasp.SOp, token: Any) -> rasp.SOp:
    """How many positions of ``sop`` hold ``token``, at every position.  Causal.

    >>> rasp.evaluate(make_count(rasp.tokens, "a"), ["a", "b", "a", "c"])
    [2, 2, 2, 2]
    """
    is_token = rasp.Select(sop, sop, lambda key, query: key == token)
    return rasp.SelectorWidth(is_token).named(f"count_{token}")


def make_count_less_freq(n: int) -> rasp.SOp:
    """How many positions hold a token that occurs at most ``n`` times.

    Same behaviour as Tracr's program of this name (whose selector keeps the
    counts ``<= n``).  Non-causal.

    >>> rasp.evaluate(make_count_less_freq(2), ["a", "a", "a", "b", "b", "c"])
    [3, 3, 3, 3, 3, 3]
    """
    hist = make_hist()
    rare = rasp.Select(hist, hist, lambda key, query: key <= n)
    return rasp.SelectorWidth(rare).named("count_less_freq")


def shift_by(offset: int, /, sop: rasp.SOp) -> rasp.SOp:
    """``sop`` moved ``offset`` positions later; the positions left empty hold None.

    A numerical ``sop`` gives a numerical result padded with 0.  Causal for
    ``offset >= 0``.

    >>> rasp.evaluate(shift_by(1, rasp.tokens), [1, 2, 3])
    [None, 1, 2]
    """
    earlier = rasp.Select(rasp.indices, rasp.indices, lambda key, query: query == key + offset)
    return _gather(earlier, sop).named(f"shift_by({offset})")


def detect_pattern(sop: rasp.SOp, pattern: Sequence[Any]) -> rasp.SOp:
    """True at each position where ``pattern`` ends; None at the first ``len(pattern) - 1``.

    One equality test per pattern element, shifted into place so all of them
    meet at the pattern's last position, then combined with ``and``.  Causal.

    >>> rasp.evaluate(detect_pattern(rasp.tokens, "abc"), list("abcabc"))
    [None, None, True, False, False, True]
    """
    if len(pattern) < 1:
        raise rasp.RaspcValueError(f"detect_pattern needs a non-empty pattern, found {pattern!r}")
    # matches[d]: the element d places before the end of the pattern sits at i - d.
    matches = []
    for distance, element in enumerate(reversed(list(pattern))):
        hit = sop == element
        matches.append(shift_by(distance, hit) if distance else hit)
    found = matches[-1]
    for hit in reversed(matches[:-1]):
        found = found & hit
    return found.named(f"detect_pattern({pattern})")


def _extreme(sop: rasp.SOp, beats: rasp.Comparison, name: str) -> rasp.SOp:
    beaten_by = rasp.SelectorWidth(rasp.Select(sop, sop, beats))
    is_extreme = rasp.Map(lambda n: n == 0, beaten_by)
    # Every selected key holds the same (extreme) value, as a categorical Aggregate needs.
    return rasp.Aggregate(_where(is_extreme), sop).named(name)


def make_min(sop: rasp.SOp) -> rasp.SOp:
    """The smallest value of ``sop`` over the whole input, at every position.  Non-causal.

    >>> rasp.evaluate(make_min(rasp.tokens), [3, 1, 2, 1])
    [1, 1, 1, 1]
    """
    return _extreme(sop, LT, "min")


def make_max(sop: rasp.SOp) -> rasp.SOp:
    """The largest value of ``sop`` over the whole input, at every position.  Non-causal.

    >>> rasp.evaluate(make_max(rasp.tokens), [3, 1, 2, 3])
    [3, 3, 3, 3]
    """
    return _extreme(sop, GT, "max")


def make_nary_sequencemap(f: Callable[..., Any], *sops: rasp.SOp) -> rasp.SOp:
    """``f`` of several SOps, position by position.

    SequenceMaps take two inputs, so the inputs are packed into a growing
    tuple (one SequenceMap per extra input) and a final Map unpacks it into
    ``f``.  The tuples are categorical: their value sets multiply, so keep the
    inputs' value sets small.  Causal if the inputs are.

    >>> add3 = make_nary_sequencemap(lambda a, b, c: a + b + c,
    ...                              rasp.tokens, rasp.indices, rasp.tokens)
    >>> rasp.evaluate(add3, [10, 20, 30])
    [20, 41, 62]
    """
    if not sops:
        raise rasp.RaspcValueError("make_nary_sequencemap needs at least one SOp")
    if len(sops) == 1:
        return rasp.Map(f, sops[0])
    packed = rasp.SequenceMap(lambda x, y: (x, y), sops[0], sops[1])
    for sop in sops[2:]:
        packed = rasp.SequenceMap(lambda acc, y: (*acc, y), packed, sop)
    return rasp.Map(lambda args: f(*args), packed)


# ---------------------------------------------------------------- test circuits


def make_running_count(sop: rasp.SOp, token: Any) -> rasp.SOp:
    """How many of the positions ``0..i`` hold ``token`` (a prefix sum of a flag).

    Why researchers want it: the simplest counter whose value grows along the
    sequence, read out exactly by a selector-width head; a probe or an
    attribution method should find one counting head and its MLP.  Causal.

    >>> rasp.evaluate(make_running_count(rasp.tokens, "a"), list("abaa"))
    [1, 1, 2, 3]
    """
    marked = rasp.SequenceMap(lambda x, i: i if x == token else -1, sop, rasp.indices)
    counted = rasp.Select(marked, rasp.indices, lambda key, query: 0 <= key <= query)
    return rasp.SelectorWidth(counted).named(f"running_count_{token}")


def make_parity(sop: rasp.SOp) -> rasp.SOp:
    """1 where an odd number of the positions ``0..i`` hold 1, else 0.

    Why researchers want it: parity is the classic task that trained
    transformers find hard; here it is a counter followed by a modulo MLP, a
    known circuit to compare learned ones against.  Causal.

    >>> rasp.evaluate(make_parity(rasp.tokens), [1, 0, 1, 1])
    [1, 1, 0, 1]
    """
    ones = make_running_count(sop, 1)
    return rasp.Map(lambda c: c % 2, ones).named("parity")


def make_majority() -> rasp.SOp:
    """True where this position's token fills more than half of the input.

    Why researchers want it: two counters (token count and length) compared by
    one MLP, a small circuit with a clear causal story for patching studies.
    Causal (position ``i`` judges the prefix).

    >>> rasp.evaluate(make_majority(), ["a", "b", "a"])
    [True, False, True]
    """
    return rasp.SequenceMap(lambda c, n: 2 * c > n, make_hist(), make_length()).named("majority")


def make_is_palindrome(sop: rasp.SOp) -> rasp.SOp:
    """True at every position iff ``sop`` reads the same backwards.

    Why researchers want it: a reversal head, a per-position comparison and a
    global "count the mismatches" head in series, so the output depends on
    every position through one known path.  ``sop`` must be categorical.
    Non-causal.

    >>> rasp.evaluate(make_is_palindrome(rasp.tokens), list("abba"))
    [True, True, True, True]
    >>> rasp.evaluate(make_is_palindrome(rasp.tokens), list("abb"))
    [False, False, False]
    """
    mirrored = rasp.SequenceMap(lambda x, y: x == y, sop, make_reverse(sop))
    mismatches = rasp.SelectorWidth(rasp.Select(mirrored, rasp.indices, lambda key, query: not key))
    return rasp.Map(lambda n: n == 0, mismatches).named("is_palindrome")


def make_induction(sop: rasp.SOp) -> rasp.SOp:
    """The token that followed the latest earlier occurrence of this position's token.

    None where the token has not occurred before.  Why researchers want it:
    induction heads are the best-studied transformer circuit (Olsson et al.,
    2022); this one is exact.  A previous-token head copies each position's
    ``(token, occurrence number)`` one step right; the induction head then
    looks for ``(my token, my occurrence number - 1)`` and reads the token
    found there.  Numbering the occurrences makes the match unique, so the
    head attends to exactly one position.  Causal.

    >>> rasp.evaluate(make_induction(rasp.tokens), list("abcab"))
    [None, None, None, 'b', 'c']
    """
    nth = _occurrence(sop)
    tag = rasp.SequenceMap(lambda x, n: (x, n), sop, nth)
    previous_tag = shift_by(1, tag).named("induction_previous_tag")
    wanted = rasp.SequenceMap(lambda x, n: (x, n - 1), sop, nth)
    return rasp.Aggregate(rasp.Select(previous_tag, wanted, EQ), sop).named("induction")


def make_argmax(sop: rasp.SOp) -> rasp.SOp:
    """The position of the largest value of ``sop`` (the first, if tied), everywhere.

    Why researchers want it: it moves a *position* rather than a token, so
    tools must track positional information through a comparison head and a
    broadcast head.  ``sop`` must be categorical.  Non-causal.

    >>> rasp.evaluate(make_argmax(rasp.tokens), [2, 5, 1, 5])
    [1, 1, 1, 1]
    """
    return rasp.Aggregate(_where(_first_best(sop)), rasp.indices).named("argmax")


def make_unique_count(sop: rasp.SOp) -> rasp.SOp:
    """How many distinct values ``sop`` holds, at every position.

    Why researchers want it: "is this the first occurrence?" is a common
    feature in language models; here it is an explicit intermediate, counted
    by a second head.  Causal: position ``i`` counts the distinct values of
    the prefix.

    >>> rasp.evaluate(make_unique_count(rasp.tokens), list("abacb"))
    [3, 3, 3, 3, 3]
    >>> rasp.evaluate(make_unique_count(rasp.tokens), list("abacb"), causal=True)
    [1, 2, 2, 3, 3]
    """
    first = rasp.Map(lambda n: n == 1, _occurrence(sop))
    return rasp.SelectorWidth(_where(first)).named("unique_count")


# ---------------------------------------------------------------- registry


@dataclasses.dataclass(frozen=True)
class LibraryProgram:
    """One library program, ready for the compiler's tests.

    Attributes:
      name: registry key (also the program's output label, where it has one).
      build: ``build(max_seq_len)`` returns the program.
      vocab: a small vocabulary the program is meant for.
      description: one line on what it computes.
      reference: plain-Python ``reference(xs) -> outputs`` giving the same values.
      max_seq_len: the length the tests compile it for.
      causal: whether ``evaluate(prog, xs, causal=True)[i]`` equals
        ``evaluate(prog, xs[:i + 1])[i]`` for every input.
    """

    name: str
    build: Callable[[int], rasp.SOp]
    vocab: tuple
    description: str
    reference: Callable[[list], list]
    max_seq_len: int = 5
    causal: bool = False


_ABC = ("a", "b", "c")
_INTS = (1, 2, 3, 4)
_ROUND = ("(", ")")
_ROUND_CURLY = ("(", ")", "{", "}")
_THREE_PAIRS = ("(", ")", "{", "}", "[", "]")


def _nary_example(max_seq_len: int) -> rasp.SOp:
    return make_nary_sequencemap(
        lambda x, i, n: (x + i) % n, rasp.tokens, rasp.indices, make_length()
    ).named("nary_sequencemap")


def _nary_reference(xs: list) -> list:
    n = len(xs)
    return ref.nary_sequencemap(lambda x, i, m: (x + i) % m)(xs, range(n), [n] * n)


_ENTRIES = [
    LibraryProgram(
        "length", lambda n: make_length(), _ABC, "input length", ref.length, causal=True
    ),
    LibraryProgram(
        "reverse",
        lambda n: make_reverse(rasp.tokens),
        _ABC,
        "tokens backwards",
        ref.reverse,
        causal=True,
    ),
    LibraryProgram(
        "hist", lambda n: make_hist(), _ABC, "count of each token", ref.hist, causal=True
    ),
    LibraryProgram(
        "double_hist",
        lambda n: make_double_hist(),
        _ABC,
        "number of tokens sharing this token's count",
        ref.double_hist,
    ),
    LibraryProgram(
        "sort_unique",
        lambda n: make_sort_unique(rasp.tokens, rasp.tokens),
        _INTS,
        "tokens sorted (repeated tokens leave None gaps)",
        ref.sort_unique,
    ),
    LibraryProgram(
        "sort",
        lambda n: make_sort(rasp.tokens, rasp.tokens, max_seq_len=n, min_key=1),
        _INTS,
        "tokens sorted ascending, stable",
        ref.sort,
    ),
    LibraryProgram(
        "sort_freq", make_sort_freq, _ABC, "tokens by descending frequency", ref.sort_freq
    ),
    LibraryProgram(
        "most_freq",
        lambda n: make_most_freq(),
        _ABC,
        "most frequent token, ties to the first seen",
        ref.most_freq,
    ),
    LibraryProgram(
        "frac_prevs",
        lambda n: make_frac_prevs(rasp.tokens == "a"),
        _ABC,
        "fraction of 'a' so far (numerical)",
        ref.frac_prevs("a"),
        causal=True,
    ),
    LibraryProgram(
        "pair_balance",
        lambda n: make_pair_balance(rasp.tokens, "(", ")"),
        ("(", ")", "a"),
        "(opens - closes) / (i + 1) (numerical)",
        ref.pair_balance("(", ")"),
        causal=True,
    ),
    LibraryProgram(
        "shuffle_dyck1",
        lambda n: make_shuffle_dyck1(),
        _ROUND,
        "round brackets balanced",
        ref.shuffle_dyck(["()"]),
        max_seq_len=6,
        causal=True,
    ),
    LibraryProgram(
        "shuffle_dyck2",
        lambda n: make_shuffle_dyck2(),
        _ROUND_CURLY,
        "() and {} each balanced",
        ref.shuffle_dyck(["()", "{}"]),
        max_seq_len=6,
        causal=True,
    ),
    LibraryProgram(
        "shuffle_dyck3",
        lambda n: make_shuffle_dyck3(),
        _THREE_PAIRS,
        "(), {} and [] each balanced",
        ref.shuffle_dyck(["()", "{}", "[]"]),
        max_seq_len=6,
        causal=True,
    ),
    LibraryProgram(
        "dyck1_prefix",
        lambda n: make_dyck1_prefix(),
        _ROUND,
        "Dyck-1 prefix labels T/P/F",
        ref.dyck_prefix(["()"]),
        max_seq_len=6,
        causal=True,
    ),
    LibraryProgram(
        "dyck2_prefix",
        lambda n: make_dyck2_prefix(),
        _ROUND_CURLY,
        "Dyck-2 prefix labels T/P/F",
        ref.dyck_prefix(["()", "{}"]),
        max_seq_len=6,
        causal=True,
    ),
    LibraryProgram(
        "count",
        lambda n: make_count(rasp.tokens, "a"),
        _ABC,
        "number of 'a' tokens",
        ref.count("a"),
        causal=True,
    ),
    LibraryProgram(
        "count_less_freq",
        lambda n: make_count_less_freq(2),
        _ABC,
        "positions whose token occurs at most twice",
        ref.count_less_freq(2),
    ),
    LibraryProgram(
        "shift_by",
        lambda n: shift_by(2, rasp.tokens),
        _ABC,
        "tokens two places later, None-padded",
        ref.shift_by(2),
        causal=True,
    ),
    LibraryProgram(
        "detect_pattern",
        lambda n: detect_pattern(rasp.tokens, "abc"),
        _ABC,
        "True where 'abc' ends",
        ref.detect_pattern("abc"),
        max_seq_len=6,
        causal=True,
    ),
    LibraryProgram("min", lambda n: make_min(rasp.tokens), _INTS, "smallest token", ref.minimum),
    LibraryProgram("max", lambda n: make_max(rasp.tokens), _INTS, "largest token", ref.maximum),
    LibraryProgram(
        "nary_sequencemap",
        _nary_example,
        (1, 2, 3),
        "(token + index) % length via a 3-ary map",
        _nary_reference,
        causal=True,
    ),
    LibraryProgram(
        "running_count",
        lambda n: make_running_count(rasp.tokens, "a"),
        _ABC,
        "number of 'a' so far",
        ref.running_count("a"),
        causal=True,
    ),
    LibraryProgram(
        "parity",
        lambda n: make_parity(rasp.tokens),
        (0, 1),
        "parity of the number of 1s so far",
        ref.parity,
        max_seq_len=6,
        causal=True,
    ),
    LibraryProgram(
        "majority",
        lambda n: make_majority(),
        ("a", "b"),
        "token fills more than half the input",
        ref.majority,
        causal=True,
    ),
    LibraryProgram(
        "is_palindrome",
        lambda n: make_is_palindrome(rasp.tokens),
        ("a", "b"),
        "input reads the same backwards",
        ref.is_palindrome,
    ),
    LibraryProgram(
        "induction",
        lambda n: make_induction(rasp.tokens),
        _ABC,
        "token after the previous occurrence of this token",
        ref.induction,
        max_seq_len=6,
        causal=True,
    ),
    LibraryProgram(
        "argmax",
        lambda n: make_argmax(rasp.tokens),
        _INTS,
        "position of the first largest token",
        ref.argmax,
    ),
    LibraryProgram(
        "unique_count",
        lambda n: make_unique_count(rasp.tokens),
        ("a", "b", "c", "d"),
        "number of distinct tokens",
        ref.unique_count,
        causal=True,
    ),
]

LIBRARY: dict[str, LibraryProgram] = {entry.name: entry for entry in _ENTRIES}
"""Every library program by name, with a vocabulary, a length and a reference."""
