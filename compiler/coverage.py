"""Which selections can be empty: proofs that keep ``None`` out of value sets.

An Aggregate whose selector selects nothing gives its default (``None`` for a
categorical one), and a SelectorWidth can be 0.  Assuming that for every
selector over-approximates: ``Select(tokens, tokens, EQ)`` always selects at
least the query's own position, and a selector over positions only
(``Select(indices, length - indices - 1, EQ)``) can be checked at every length.
A spurious ``None`` makes a numerical Map of the result look partial, so it is
refused; these proofs avoid that.  Each rule here is sound: it answers
"always selects" only when it holds on every valid input, and otherwise gives
no answer (the over-approximation stays).

The rules:

* **reflexive**: keys and queries are the same SOp, it is never ``None``, and the
  predicate holds for every value paired with itself: the query's own position
  is a selected key (causal masking keeps it visible).
* **total**: keys are never ``None`` and, for every query value, the predicate holds
  for every key value (``TRUE``, or e.g. ``GEQ`` over keys that are all smaller).
* **positional**: keys and queries depend only on positions (``indices``,
  ``length``, constants): the selector is evaluated at every length, under the
  same causal masking as the model, giving the exact set of widths.
* an Or holds when either side does.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

import rasp
from compiler.selectors import holds
from rasp.errors import RaspcTypeError
from rasp.expr import SOP_TYPES, rule_for

__all__ = ["Coverage", "selection_coverage"]

_POSITIONAL_LEAVES = (rasp.IndicesType, rasp.LengthType, rasp.Full, rasp.ConstantSOp)
_MAX_PAIRS = 250_000
"""Largest key x query value product a proof enumerates."""


@dataclass(frozen=True)
class Coverage:
    """What is known of a selector: whether every query selects a key on every valid
    input, and (for positional selectors) the exact widths that occur."""

    nonempty: bool
    widths: frozenset[int] | None = None


def selection_coverage(
    selector: rasp.Selector,
    values_of: Callable[[rasp.SOp], frozenset | None],
    max_seq_len: int,
    causal: bool,
    token: Any,
) -> Coverage:
    """What can be proved about ``selector`` (``values_of`` gives inferred value sets;
    ``token`` is any vocabulary token, used to evaluate positional selectors)."""
    if _positional(selector):
        widths = _widths(selector, max_seq_len, causal, token)
        if widths is not None:
            return Coverage(nonempty=0 not in widths, widths=widths)
    return Coverage(nonempty=_always_selects(selector, values_of))


def _always_selects(sel: rasp.Selector, values_of: Callable) -> bool:
    return rule_for(RULES, sel, "selection-coverage")(sel, values_of)


def _select_always(sel: rasp.Select, values_of: Callable) -> bool:
    return _reflexive(sel, values_of) or _total(sel, values_of)


def _or_always(sel: rasp.SelectorOr, values_of: Callable) -> bool:
    return any(_always_selects(child, values_of) for child in sel.children)


def _unproved(sel: rasp.RASPExpr, values_of: Callable) -> bool:
    """No rule proves this selector non-empty (the over-approximation stays)."""
    return False


def _not_a_selector(expr: rasp.RASPExpr, *_: Any) -> Any:
    raise RaspcTypeError(f"internal error: {expr.label} is an SOp where a selector was expected")


RULES: Mapping[type, Callable[..., bool]] = {
    **dict.fromkeys(SOP_TYPES, _not_a_selector),
    rasp.Select: _select_always,
    rasp.SelectorOr: _or_always,
    rasp.SelectorAnd: _unproved,
    rasp.SelectorNot: _unproved,
    rasp.ConstantSelector: _unproved,
}
"""Per node type: does the selector select a key at every query on every input."""


def _reflexive(sel: rasp.Select, values_of: Callable) -> bool:
    if sel.keys.label != sel.queries.label:
        return False
    values = values_of(sel.keys)
    if values is None or None in values:
        return False
    return all(holds(sel.predicate, v, v) for v in values)


def _total(sel: rasp.Select, values_of: Callable) -> bool:
    keys, queries = values_of(sel.keys), values_of(sel.queries)
    if keys is None or queries is None or None in keys or not keys:
        return False
    if len(keys) * len(queries) > _MAX_PAIRS:
        return False
    live = [q for q in queries if q is not None]  # a None query selects nothing: unprovable
    if len(live) < len(queries):
        return False
    return all(holds(sel.predicate, k, q) for k, q in itertools.product(keys, live))


def _positional(expr: rasp.RASPExpr) -> bool:
    """Whether ``expr`` depends on positions only (never on the tokens)."""
    for node in rasp.postorder(expr):
        if not node.children and not isinstance(node, (*_POSITIONAL_LEAVES, rasp.Selector)):
            return False
    return True


def _widths(sel: rasp.Selector, max_seq_len: int, causal: bool, token: Any) -> frozenset | None:
    """Every width the selector gives at any query position of any length.  Keys and
    queries are evaluated per length; each predicate runs once per distinct pair of
    values over all lengths, so this stays near-linear in ``max_seq_len ** 2``."""
    tables: dict[int, dict] = {}
    widths: set[int] = set()
    for n in range(1, max_seq_len + 1):
        try:
            matrix = _matrix(sel, [token] * n, causal, tables)
        except Exception:  # a function or predicate that raises: no proof
            return None
        widths.update(int(w) for w in np.unique(matrix.sum(axis=1)))
    return frozenset(widths)


def _matrix(sel: rasp.Selector, xs: list, causal: bool, tables: dict[int, dict]) -> np.ndarray:
    """The selector's ``[T_query, T_key]`` matrix on ``xs``, as the evaluator defines it."""
    return rule_for(MATRIX_RULES, sel, "selector-matrix")(sel, xs, causal, tables)


def _mask(n: int, causal: bool) -> np.ndarray:
    return np.tril(np.ones((n, n), dtype=bool)) if causal else np.ones((n, n), dtype=bool)


def _select_matrix(sel: rasp.Select, xs: list, causal: bool, tables: dict) -> np.ndarray:
    n = len(xs)
    keys = rasp.evaluate(sel.keys, xs, causal=causal)
    queries = rasp.evaluate(sel.queries, xs, causal=causal)
    seen = tables.setdefault(id(sel), {})
    rows = [[_cached(sel.predicate, k, q, seen) for k in keys] for q in queries]
    return np.array(rows, dtype=bool).reshape(n, n) & _mask(n, causal)


def _and_matrix(sel: rasp.SelectorAnd, xs: list, causal: bool, tables: dict) -> np.ndarray:
    return _matrix(sel.fst, xs, causal, tables) & _matrix(sel.snd, xs, causal, tables)


def _or_matrix(sel: rasp.SelectorOr, xs: list, causal: bool, tables: dict) -> np.ndarray:
    return _matrix(sel.fst, xs, causal, tables) | _matrix(sel.snd, xs, causal, tables)


def _not_matrix(sel: rasp.SelectorNot, xs: list, causal: bool, tables: dict) -> np.ndarray:
    return ~_matrix(sel.inner, xs, causal, tables) & _mask(len(xs), causal)


def _evaluated_matrix(sel: rasp.Selector, xs: list, causal: bool, tables: dict) -> np.ndarray:
    n = len(xs)
    return np.array(rasp.evaluate(sel, xs, causal=causal), dtype=bool).reshape(n, n)


MATRIX_RULES: Mapping[type, Callable[..., np.ndarray]] = {
    **dict.fromkeys(SOP_TYPES, _not_a_selector),
    rasp.Select: _select_matrix,
    rasp.SelectorAnd: _and_matrix,
    rasp.SelectorOr: _or_matrix,
    rasp.SelectorNot: _not_matrix,
    rasp.ConstantSelector: _evaluated_matrix,
}
"""Per node type: the selector's matrix, with each predicate's table cached over lengths."""


def _cached(predicate: Callable, key: Any, query: Any, seen: dict) -> bool:
    """``predicate(key, query)`` as a Select sees it (never selecting None), once per pair."""
    if key is None or query is None:
        return False
    pair = (type(key), key, type(query), query)
    if pair not in seen:
        seen[pair] = bool(predicate(key, query))  # a raise: no proof (the caller gives up)
    return seen[pair]
