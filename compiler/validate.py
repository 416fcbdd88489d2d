"""Pass 3: refuse, before building anything, what cannot be compiled faithfully.

Every rule is stated here once.  All problems are collected as (label,
reason-and-fix) and raised together in one :class:`UnsupportedProgramError`,
so a user fixes a program in one round.  Later passes assume these rules hold.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from typing import Any

import rasp
from compiler.basis import sorted_values
from compiler.graph import ProgramGraph
from compiler.pairing import Zip
from compiler.selectors import UnsupportedSelector, plan_selector
from compiler.values import MAX_VALUES, Clash, ValueSets
from rasp.errors import Problem, UnsupportedProgramError

__all__ = ["validate", "MIN_RELATIVE_GAP", "MAX_TABLE"]

MIN_RELATIVE_GAP = 1e-5
"""A numerical MLP input needs its values at least this far apart (relative to the
largest magnitude), so float32 noise cannot push a value across a step."""
MAX_TABLE = 250_000
"""Largest lookup table (hidden units) one MLP may have."""


def _is_number(v: Any) -> bool:
    return isinstance(v, (bool, int, float)) and v is not None


class _Checker:
    def __init__(self, graph: ProgramGraph, values: ValueSets):
        self.graph = graph
        self.values = values
        self.problems: list[Problem] = []

    def fail(self, expr: rasp.RASPExpr, reason: str) -> None:
        self.problems.append((expr.label, reason))

    def known(self, expr: rasp.SOp, why: str) -> bool:
        """The value set of ``expr`` must be listed for ``why``.

        An unlisted set is reported once, at the node where it starts (an unlisted
        input makes every node computed from it unlisted too), and not at all when
        that node already has a problem that explains it (e.g. a mean of strings).
        """
        if self.values[expr.label] is not None:
            return True
        source = expr
        while True:
            unlisted = [
                child
                for child in source.children
                if isinstance(child, rasp.SOp) and self.values[child.label] is None
            ]
            if not unlisted:
                break
            source = unlisted[0]
        if any(label == source.label for label, _ in self.problems):
            return False
        via = "," if source is expr else f", and so is that of {expr.label!r}, computed from it,"
        self.fail(
            source,
            f"its set of possible values is too large to list (over {MAX_VALUES:,}){via} but "
            f"{why} needs it listed; shrink the vocabulary or max_seq_len, or round the "
            "values with a Map",
        )
        return False

    def categorical_input(self, user: rasp.RASPExpr, sop: rasp.SOp, role: str) -> bool:
        if rasp.is_numerical(sop):
            self.fail(
                user,
                f"its {role} {sop.label!r} is numerical, but this needs a categorical input; "
                f"use rasp.categorical(rasp.Map(lambda x: x, {sop.label})) as the {role}",
            )
            return False
        return self.known(sop, f"{user.label!r} (which reads it)")

    def numeric_values(self, expr: rasp.SOp) -> None:
        """A numerical SOp must hold numbers only (None cannot be told from 0)."""
        vals = self.values[expr.label]
        if vals is None:
            return
        bad = [v for v in vals if not _is_number(v)]
        if bad:
            shown = ", ".join(repr(v) for v in sorted_values(bad)[:3])
            self.fail(
                expr,
                f"it is numerical but can take non-numeric values ({shown}); a numerical SOp "
                "holds one number per position (None would read as 0); make it categorical "
                "or map those values to numbers",
            )

    def numerical_mlp_input(self, user: rasp.RASPExpr, sop: rasp.SOp) -> None:
        if not self.known(sop, f"the numerical MLP of {user.label!r}"):
            return
        xs = sorted(v for v in self.values[sop.label] if _is_number(v))
        scale = max([1.0] + [abs(float(v)) for v in xs])
        gaps = [b - a for a, b in itertools.pairwise(xs)]
        if gaps and min(gaps) < MIN_RELATIVE_GAP * scale:
            self.fail(
                user,
                f"its numerical input {sop.label!r} takes values only {min(gaps):.2g} apart, "
                f"too close for an exact float32 MLP (need {MIN_RELATIVE_GAP:g} x {scale:g}); "
                "lower max_seq_len or make the input categorical",
            )


def _select(expr: rasp.Select, c: _Checker) -> None:
    c.categorical_input(expr, expr.keys, "keys")
    c.categorical_input(expr, expr.queries, "queries")


def _ignore_selector(expr: rasp.Selector, c: _Checker) -> None:
    pass  # judged as a whole where an Aggregate or SelectorWidth uses it


def _aggregate(expr: rasp.Aggregate, c: _Checker) -> None:
    sel = expr.selector
    if rasp.is_categorical(expr):
        if rasp.is_numerical(expr.sop):
            c.fail(
                expr,
                f"it is categorical but aggregates the numerical {expr.sop.label!r}; "
                "make the Aggregate numerical (a mean) or the SOp categorical",
            )
        else:
            c.known(expr.sop, f"{expr.label!r}")
    else:
        if not _is_number(expr.default):
            c.fail(
                expr,
                f"a numerical Aggregate needs a number as its default (found "
                f"{expr.default!r}), the value where no key is selected; pass e.g. default=0",
            )
        vals = c.values[expr.sop.label]
        known = c.known(expr.sop, f"the numerical Aggregate {expr.label!r}")
        if known and any(not _is_number(v) for v in vals):
            c.fail(
                expr,
                f"it averages {expr.sop.label!r}, which can take non-numeric values; a "
                "numerical Aggregate needs numbers",
            )
    _selector_in_head(expr, sel, c)


def _selector_in_head(user: rasp.SOp, sel: rasp.Selector, c: _Checker) -> None:
    try:
        plan_selector(sel)
    except UnsupportedSelector as exc:
        c.fail(sel, str(exc))


def _selector_width(expr: rasp.SelectorWidth, c: _Checker) -> None:
    _selector_in_head(expr, expr.selector, c)


def _map(expr: rasp.Map, c: _Checker) -> None:
    if rasp.is_numerical(expr.inner):
        c.numerical_mlp_input(expr, expr.inner)
    else:
        c.categorical_input(expr, expr.inner, "input")


def _sequence_map(expr: rasp.SequenceMap, c: _Checker) -> None:
    linear = isinstance(expr, rasp.LinearSequenceMap) and rasp.is_numerical(expr)
    for sop, role in ((expr.fst, "first input"), (expr.snd, "second input")):
        if linear:
            listed = rasp.is_categorical(sop) and c.known(sop, f"{expr.label!r}")
            if listed and any(not _is_number(v) for v in c.values[sop.label] if v is not None):
                c.fail(expr, f"its {role} {sop.label!r} has non-numeric values")
        elif rasp.is_numerical(sop):
            c.numerical_mlp_input(expr, sop)
        else:
            c.known(sop, f"{expr.label!r}")
    fst, snd = c.values[expr.fst.label], c.values[expr.snd.label]
    if not linear and fst is not None and snd is not None and len(fst) * len(snd) > MAX_TABLE:
        c.fail(
            expr,
            f"its lookup table would need {len(fst) * len(snd):,} hidden units (over "
            f"{MAX_TABLE:,}); shrink the inputs' value sets",
        )


def _zip(expr: Zip, c: _Checker) -> None:
    if not all(c.known(part, f"the selector of {expr.origin!r}") for part in expr.parts):
        return
    size = 1
    for part in expr.parts:
        size *= len(c.values[part.label])
    if size > MAX_VALUES:
        names = ", ".join(repr(part.label) for part in expr.parts)
        c.fail(
            expr,
            f"the selector of {expr.origin!r} uses | or ~ over Selects on different SOps, so "
            f"raspc pairs {names} into one SOp, which would take {size:,} values (over "
            f"{MAX_VALUES:,}); shrink their value sets, or compare one pair of SOps",
        )


def _ignore(expr: rasp.RASPExpr, c: _Checker) -> None:
    pass


_RULES: dict[type, Callable[[Any, _Checker], None]] = {
    rasp.Select: _select,
    rasp.SelectorAnd: _ignore_selector,
    rasp.SelectorOr: _ignore_selector,
    rasp.SelectorNot: _ignore_selector,
    rasp.ConstantSelector: _ignore_selector,
    rasp.Aggregate: _aggregate,
    rasp.SelectorWidth: _selector_width,
    rasp.Map: _map,
    rasp.SequenceMap: _sequence_map,
    rasp.LinearSequenceMap: _sequence_map,
    rasp.TokensType: _ignore,
    rasp.IndicesType: _ignore,
    rasp.LengthType: _ignore,
    rasp.Full: _ignore,
    rasp.ConstantSOp: _ignore,
    Zip: _zip,
}


def _clash(expr: rasp.RASPExpr, clash: Clash) -> str:
    what = "predicate" if isinstance(expr, rasp.Selector) else "function"
    a = clash.args_a[0] if len(clash.args_a) == 1 else clash.args_a
    b = clash.args_b[0] if len(clash.args_b) == 1 else clash.args_b
    return (
        f"its {what} tells apart inputs the compiled model holds as one value: on {a!r} it "
        f"gives {clash.out_a!r} but on {b!r} it gives {clash.out_b!r}; equal numbers (1, 1.0, "
        "True) and floats that differ only by rounding share one residual direction (and a "
        f"mean is 1 over one key but 1.0 over several); make the {what} give equal results "
        "for equal inputs, e.g. convert its input with int(x) or float(x) first (and round "
        "floats: round(x, 6))"
    )


def validate(
    graph: ProgramGraph, values: ValueSets, clashes: Mapping[str, Clash] | None = None
) -> None:
    """Raise one :class:`UnsupportedProgramError` listing every problem, or return.

    ``clashes`` are the functions that value inference found telling twins apart."""
    c = _Checker(graph, values)
    clashes = clashes or {}
    for label in graph.order:
        expr = graph.expr(label)
        rule = _RULES.get(type(expr))
        if rule is None:
            c.fail(expr, f"{type(expr).__name__} is not a RASP primitive raspc knows")
            continue
        rule(expr, c)
        if label in clashes:
            c.fail(expr, _clash(expr, clashes[label]))
        if isinstance(expr, rasp.SOp):
            if rasp.is_numerical(expr):
                c.numeric_values(expr)
            elif values[label] is None:
                c.known(expr, "its categorical encoding (one direction per value)")
            elif len(values[label]) > MAX_VALUES:
                c.fail(expr, f"it has {len(values[label]):,} values, too many directions")
    if c.problems:
        raise UnsupportedProgramError(c.problems)
