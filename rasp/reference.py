"""Plain-Python reference implementations of the programs in :mod:`rasp.lib`.

Each function here states, without RASP, what one library program computes on
a whole input list; the tests check the RASP program, the evaluator and the
compiled model against it.  Programs that take parameters have a factory here
that takes the same parameters and returns the reference function.

These are deliberately naive (loops over the input, quadratic where that is
clearest): they are specifications, not fast code.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

__all__ = [
    "argmax",
    "count",
    "count_less_freq",
    "detect_pattern",
    "double_hist",
    "dyck_prefix",
    "frac_prevs",
    "hist",
    "induction",
    "is_palindrome",
    "length",
    "majority",
    "maximum",
    "minimum",
    "most_freq",
    "nary_sequencemap",
    "pair_balance",
    "parity",
    "reverse",
    "running_count",
    "shift_by",
    "shuffle_dyck",
    "sort",
    "sort_freq",
    "sort_unique",
    "unique_count",
]

Reference = Callable[[list], list]


def length(xs: Sequence[Any]) -> list:
    """The input length at every position."""
    return [len(xs)] * len(xs)


def reverse(xs: Sequence[Any]) -> list:
    """The input backwards."""
    return list(reversed(xs))


def hist(xs: Sequence[Any]) -> list:
    """How often each position's token occurs in the whole input."""
    return [sum(1 for y in xs if y == x) for x in xs]


def double_hist(xs: Sequence[Any]) -> list:
    """How many distinct tokens occur exactly as often as this position's token."""
    counts = {x: sum(1 for y in xs if y == x) for x in xs}
    return [sum(1 for c in counts.values() if c == counts[x]) for x in xs]


def sort_unique(xs: Sequence[Any]) -> list:
    """Sort by sending each token to position ``#tokens smaller than it``.

    With distinct tokens this is ``sorted(xs)``.  With repeats, equal tokens land
    on the same position and the positions after it receive nothing (``None``).
    """
    out: list = [None] * len(xs)
    for x in xs:
        target = sum(1 for y in xs if y < x)
        out[target] = x
    return out


def sort(xs: Sequence[Any]) -> list:
    """Ascending, stable: ``sorted(xs)``."""
    return sorted(xs)


def sort_freq(xs: Sequence[Any]) -> list:
    """Most frequent tokens first; equally frequent ones keep their input order."""
    counts = hist(xs)
    order = sorted(range(len(xs)), key=lambda i: (-counts[i], i))
    return [xs[i] for i in order]


def most_freq(xs: Sequence[Any]) -> list:
    """At every position, the most frequent token; a tie goes to the token seen first."""
    counts = hist(xs)
    best = max(range(len(xs)), key=lambda i: (counts[i], -i))
    return [xs[best]] * len(xs)


def frac_prevs(target: Any) -> Reference:
    """Fraction of the positions up to and including ``i`` that hold ``target``."""

    def run(xs: Sequence[Any]) -> list:
        return [sum(1 for y in xs[: i + 1] if y == target) / (i + 1) for i in range(len(xs))]

    return run


def _running_depth(xs: Sequence[Any], open_token: Any, close_token: Any) -> list[int]:
    depth, out = 0, []
    for x in xs:
        depth += (x == open_token) - (x == close_token)
        out.append(depth)
    return out


def pair_balance(open_token: Any, close_token: Any) -> Reference:
    """(opens - closes) among positions ``0..i``, divided by ``i + 1``."""

    def run(xs: Sequence[Any]) -> list:
        depths = _running_depth(xs, open_token, close_token)
        return [d / (i + 1) for i, d in enumerate(depths)]

    return run


def shuffle_dyck(pairs: Sequence[Sequence[Any]]) -> Reference:
    """True everywhere if every bracket type, taken on its own, is balanced."""

    def run(xs: Sequence[Any]) -> list:
        ok = True
        for open_token, close_token in pairs:
            depths = _running_depth(xs, open_token, close_token)
            ok = ok and min(depths) >= 0 and depths[-1] == 0
        return [ok] * len(xs)

    return run


def dyck_prefix(pairs: Sequence[Sequence[Any]]) -> Reference:
    """Per prefix: 'T' balanced, 'P' could still be closed, 'F' can never balance.

    Brackets must nest properly (``([)]`` fails at ``)``); other tokens are ignored.
    """
    closer_of = {open_token: close_token for open_token, close_token in pairs}
    closers = set(closer_of.values())

    def run(xs: Sequence[Any]) -> list:
        stack: list[Any] = []
        failed = False
        out = []
        for x in xs:
            if not failed:
                if x in closer_of:
                    stack.append(closer_of[x])
                elif x in closers:
                    if stack and stack[-1] == x:
                        stack.pop()
                    else:
                        failed = True
            out.append("F" if failed else ("P" if stack else "T"))
        return out

    return run


def count(token: Any) -> Reference:
    """How many positions hold ``token``, at every position."""

    def run(xs: Sequence[Any]) -> list:
        return [sum(1 for y in xs if y == token)] * len(xs)

    return run


def count_less_freq(n: int) -> Reference:
    """How many positions hold a token that occurs at most ``n`` times."""

    def run(xs: Sequence[Any]) -> list:
        counts = hist(xs)
        return [sum(1 for c in counts if c <= n)] * len(xs)

    return run


def shift_by(offset: int) -> Reference:
    """``xs[i - offset]``, or None where that position does not exist."""

    def run(xs: Sequence[Any]) -> list:
        return [xs[i - offset] if 0 <= i - offset < len(xs) else None for i in range(len(xs))]

    return run


def detect_pattern(pattern: Sequence[Any]) -> Reference:
    """True where ``pattern`` ends at ``i``; None for the first ``len(pattern) - 1``."""
    pattern = list(pattern)
    size = len(pattern)

    def run(xs: Sequence[Any]) -> list:
        out: list = []
        for i in range(len(xs)):
            if i < size - 1:
                out.append(None)
            else:
                out.append(list(xs[i - size + 1 : i + 1]) == pattern)
        return out

    return run


def minimum(xs: Sequence[Any]) -> list:
    """The smallest token, at every position."""
    return [min(xs)] * len(xs)


def maximum(xs: Sequence[Any]) -> list:
    """The largest token, at every position."""
    return [max(xs)] * len(xs)


def nary_sequencemap(f: Callable[..., Any]) -> Callable[..., list]:
    """``f`` applied position by position to several input lists."""

    def run(*columns: Sequence[Any]) -> list:
        return [None if None in args else f(*args) for args in zip(*columns)]

    return run


def running_count(token: Any) -> Reference:
    """How many of the positions ``0..i`` hold ``token``."""

    def run(xs: Sequence[Any]) -> list:
        return [sum(1 for y in xs[: i + 1] if y == token) for i in range(len(xs))]

    return run


def parity(xs: Sequence[Any]) -> list:
    """Whether an odd number of the positions ``0..i`` hold 1 (as 1 or 0)."""
    return [c % 2 for c in running_count(1)(xs)]


def majority(xs: Sequence[Any]) -> list:
    """Whether this position's token fills more than half of the input."""
    return [2 * c > len(xs) for c in hist(xs)]


def is_palindrome(xs: Sequence[Any]) -> list:
    """Whether the input reads the same backwards, at every position."""
    return [list(xs) == list(reversed(xs))] * len(xs)


def induction(xs: Sequence[Any]) -> list:
    """The token that followed the latest earlier occurrence of this position's token."""
    out: list = []
    for i, x in enumerate(xs):
        earlier = [j for j in range(i) if xs[j] == x]
        out.append(xs[earlier[-1] + 1] if earlier else None)
    return out


def argmax(xs: Sequence[Any]) -> list:
    """The position of the largest token (the first, if tied), at every position."""
    best = max(range(len(xs)), key=lambda i: (xs[i], -i))
    return [best] * len(xs)


def unique_count(xs: Sequence[Any]) -> list:
    """How many distinct tokens the input holds, at every position."""
    return [len(set(xs))] * len(xs)
