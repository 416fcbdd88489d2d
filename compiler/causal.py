"""Causal compilation: refuse programs whose output at a position reads later positions.

A causal model masks attention to keys after the query, so it computes the
causal evaluator's semantics (``rasp.evaluate(..., causal=True)``).  That is
what a left-to-right user wants only if the program never looks ahead, i.e.
its causal and full outputs agree.  Proof first, then search:

* statically, a program is causal when it has no ``length`` and every
  selector that feeds an Aggregate or SelectorWidth can only select keys at or
  before the query; that holds for a selector that is a conjunction including
  a Select over ``indices`` whose predicate never admits ``key > query``;
* otherwise the evaluator looks for an input (every input up to a budget, then
  seeded random ones) on which causal and full outputs differ, and the
  program is refused with that input as the explanation.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence
from typing import Any

import rasp
from compiler.graph import ProgramGraph
from compiler.selectors import conjuncts
from rasp.errors import EvaluationError, UnsupportedProgramError

__all__ = ["check_causal", "is_statically_causal"]

SEARCH_BUDGET = 400
"""Inputs the search tries before accepting a program it could not prove causal."""


def _looks_back(sel: rasp.Selector, max_seq_len: int) -> bool:
    for part in conjuncts(sel):
        if (
            isinstance(part, rasp.Select)
            and isinstance(part.keys, rasp.IndicesType)
            and isinstance(part.queries, rasp.IndicesType)
        ):
            pairs = itertools.product(range(max_seq_len), repeat=2)
            if not any(_safe(part.predicate, k, q) and k > q for k, q in pairs):
                return True
    return False


def _safe(predicate: Any, key: Any, query: Any) -> bool:
    try:
        return bool(predicate(key, query))
    except Exception:
        return False


def is_statically_causal(graph: ProgramGraph, max_seq_len: int) -> bool:
    """True when no node can read a later position (see the module docstring)."""
    for label in graph.order:
        expr = graph.expr(label)
        if isinstance(expr, rasp.LengthType):
            return False
        if isinstance(expr, (rasp.Aggregate, rasp.SelectorWidth)) and not _looks_back(
            expr.selector, max_seq_len
        ):
            return False
    return True


def _inputs(vocab: Sequence[Any], max_seq_len: int, seed: int = 0) -> list[list[Any]]:
    out: list[list[Any]] = []
    for n in range(1, max_seq_len + 1):
        if len(vocab) ** n + len(out) > SEARCH_BUDGET:
            break
        out.extend(list(seq) for seq in itertools.product(vocab, repeat=n))
    rng = random.Random(seed)
    while len(out) < SEARCH_BUDGET:
        n = rng.randint(1, max_seq_len)
        out.append([rng.choice(vocab) for _ in range(n)])
    return out


def check_causal(
    graph: ProgramGraph, vocab: Sequence[Any], max_seq_len: int, program: rasp.SOp | None = None
) -> None:
    """Raise :class:`UnsupportedProgramError` if the program reads later positions.

    ``program`` is the user's program (the search evaluates it; the graph may hold
    compiler-internal nodes the evaluator does not know)."""
    if is_statically_causal(graph, max_seq_len):
        return
    program = program if program is not None else graph.expr(graph.output)
    for xs in _inputs(list(vocab), max_seq_len):
        try:
            full = rasp.evaluate(program, xs)
            causal = rasp.evaluate(program, xs, causal=True)
        except EvaluationError:
            continue
        for i, (a, b) in enumerate(zip(full, causal)):
            if a != b:
                raise UnsupportedProgramError(
                    [
                        (
                            graph.output,
                            f"causal=True, but the output at position {i} depends on later "
                            f"positions: on input {xs!r} it is {a!r}, while the prefix "
                            f"{xs[: i + 1]!r} gives {b!r}; restrict every selector to keys at or "
                            "before the query (e.g. & rasp.Select(rasp.indices, rasp.indices, "
                            "rasp.Comparison.LEQ)) and avoid length, or compile with causal=False",
                        )
                    ]
                )
