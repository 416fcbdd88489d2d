"""Pass 3b (with ``causal=True``, after validation): the model computes the masked
(causal) evaluation.

``causal=True`` compiles, as Tracr does, a model whose attention masks keys
after the query; it computes ``rasp.evaluate(program, xs, causal=True)`` at
every position (every Select is masked to keys ``<= query`` and ``length`` is
``i + 1`` at position ``i``).  That masked evaluation is *not* the program run
on the prefix ending at ``i`` when intermediates look ahead: the masks apply to
every intermediate as well, so a node computed from other masked nodes differs
from both the whole-input and the prefix output.  Where it differs from the
whole-input program, a user who wants a left-to-right model may be surprised,
so the compiler says so:

* statically, a program is causal when it has no ``length`` and every
  selector that feeds an Aggregate or SelectorWidth can only select keys at or
  before the query; that holds for a selector that is a conjunction including
  a Select over ``indices`` whose predicate never admits ``key > query``.
  This is a proof: such a program gives the same output masked or not;
* otherwise the evaluator *searches* for an input (every input up to a budget,
  then seeded random ones) on which the masked and whole-input outputs differ.
  The search is not a proof: a program it finds nothing for may still look
  ahead on an input it did not try.  What it finds is reported: a
  :class:`rasp.errors.CausalWarning` under ``causal=True`` (the model is
  compiled; it equals the masked evaluation), an
  :class:`rasp.errors.UnsupportedProgramError` under ``causal="strict"``.
"""

from __future__ import annotations

import itertools
import random
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import rasp
from compiler.graph import ProgramGraph
from compiler.selectors import conjuncts, holds
from rasp.errors import CausalWarning, EvaluationError, RaspcValueError, UnsupportedProgramError
from rasp.expr import Zip, rule_for

__all__ = [
    "Causal",
    "SEARCH_BUDGET",
    "causal_mode",
    "check_causal",
    "find_lookahead",
    "is_statically_causal",
    "RULES",
]

Causal = bool | Literal["strict"]
"""The ``causal`` argument of the compiler: False, True (warn on look-ahead) or "strict"."""

SEARCH_BUDGET = 400
"""Inputs the search tries before accepting a program it could not prove causal."""


def causal_mode(causal: Any) -> tuple[bool, bool]:
    """``(masked, strict)`` for the compiler's ``causal`` argument, or a clear error."""
    if causal is False or causal is True:
        return causal, False
    if causal == "strict":
        return True, True
    raise RaspcValueError(
        f"compile: causal must be False, True or 'strict', found {causal!r}; True compiles "
        "the masked evaluation (warning where it differs from the whole-input program), "
        "'strict' refuses such programs"
    )


def _looks_back(sel: rasp.Selector, max_seq_len: int) -> bool:
    for part in conjuncts(sel):
        if (
            isinstance(part, rasp.Select)
            and isinstance(part.keys, rasp.IndicesType)
            and isinstance(part.queries, rasp.IndicesType)
        ):
            pairs = itertools.product(range(max_seq_len), repeat=2)
            if not any(holds(part.predicate, k, q) and k > q for k, q in pairs):
                return True
    return False


def _position_wise(expr: rasp.RASPExpr, max_seq_len: int) -> bool:
    return True  # reads its inputs at its own position, or nothing


def _never(expr: rasp.RASPExpr, max_seq_len: int) -> bool:
    return False  # length counts the later positions too


def _attends_back(expr: rasp.Aggregate | rasp.SelectorWidth, max_seq_len: int) -> bool:
    return _looks_back(expr.selector, max_seq_len)


RULES: Mapping[type, Callable[[Any, int], bool]] = {
    rasp.TokensType: _position_wise,
    rasp.IndicesType: _position_wise,
    rasp.LengthType: _never,
    rasp.Map: _position_wise,
    rasp.SequenceMap: _position_wise,
    rasp.LinearSequenceMap: _position_wise,
    rasp.Full: _position_wise,
    rasp.ConstantSOp: _position_wise,
    rasp.Aggregate: _attends_back,
    rasp.SelectorWidth: _attends_back,
    Zip: _position_wise,
    # A selector reads nothing by itself; the Aggregate or SelectorWidth reading it decides.
    rasp.Select: _position_wise,
    rasp.ConstantSelector: _position_wise,
    rasp.SelectorAnd: _position_wise,
    rasp.SelectorOr: _position_wise,
    rasp.SelectorNot: _position_wise,
}
"""Per node type: is it proved to read no later position (given its inputs do not)."""


def is_statically_causal(graph: ProgramGraph, max_seq_len: int) -> bool:
    """True when no node can read a later position (a proof; see the module docstring)."""
    return all(
        rule_for(RULES, graph.expr(label), "causality")(graph.expr(label), max_seq_len)
        for label in graph.order
    )


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


def find_lookahead(
    program: rasp.SOp, vocab: Sequence[Any], max_seq_len: int
) -> tuple[list[Any], int, Any, Any] | None:
    """A counterexample ``(input, position, whole-input output, masked output)`` found by
    search, or None when the search found none (which proves nothing)."""
    for xs in _inputs(list(vocab), max_seq_len):
        try:
            full = rasp.evaluate(program, xs)
            masked = rasp.evaluate(program, xs, causal=True)
        except EvaluationError:
            continue
        for i, (a, b) in enumerate(zip(full, masked)):
            if a != b:
                return xs, i, a, b
    return None


def _explain(found: tuple[list[Any], int, Any, Any], strict: bool) -> str:
    xs, i, full, masked = found
    head = (
        f"the output at position {i} depends on later positions: on input {xs!r} the "
        f"whole-input program gives {full!r}, while the causal (masked) evaluation gives "
        f"{masked!r} (found by searching inputs, not proved)"
    )
    if strict:
        return (
            f"causal='strict', but {head}; restrict every selector to keys at or before the "
            "query (e.g. & rasp.Select(rasp.indices, rasp.indices, rasp.Comparison.LEQ)) and "
            "avoid length, compile with causal=True to get the masked evaluation, or with "
            "causal=False"
        )
    return (
        f"causal=True: {head}. The model computes the masked evaluation, "
        "rasp.evaluate(program, xs, causal=True), at every position; pass causal='strict' "
        "to refuse such programs, or causal=False for the whole-input program"
    )


def check_causal(
    graph: ProgramGraph,
    vocab: Sequence[Any],
    max_seq_len: int,
    *,
    strict: bool = False,
) -> None:
    """Warn (:class:`CausalWarning`), or with ``strict`` raise
    :class:`UnsupportedProgramError`, where a search finds that the masked evaluation
    differs from the whole-input program.

    The search evaluates the compiled graph itself (fused and paired: every node,
    compiler-internal ones included, has an evaluator rule), which is what the model
    computes and equals the user's program wherever that evaluates."""
    if is_statically_causal(graph, max_seq_len):
        return
    found = find_lookahead(graph.expr(graph.output), vocab, max_seq_len)
    if found is None:
        return
    if strict:
        raise UnsupportedProgramError([(graph.output, _explain(found, strict=True))])
    warnings.warn(f"{graph.output}: {_explain(found, strict=False)}", CausalWarning, stacklevel=3)
