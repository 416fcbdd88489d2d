"""Pass 3: refuse, before building anything, what cannot be compiled faithfully.

Every rule about a program's types and value sets is stated here once; the rules
that depend on how a node is built (table size, float32 precision, a selector's
attention form) belong to the constructions' plans (:mod:`compiler.constructions`).
All problems, this pass's and every plan's, are collected as (label, reason-and-fix)
and raised together in one :class:`UnsupportedProgramError` (:func:`raise_problems`),
so a user fixes a program in one round.  Later passes assume these rules hold.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import rasp
from compiler.basis import INTERNAL_MARK, sorted_values
from compiler.graph import ProgramGraph
from compiler.pairing import Zip
from compiler.values import MAX_VALUES, Clash, Failure, ValueInference, ValueSets
from rasp.errors import PartialFunctionWarning, Problem, UnsupportedProgramError
from rasp.values import is_number

if TYPE_CHECKING:
    from compiler.constructions import Plan

__all__ = ["validate", "collect_problems", "raise_problems"]


class _Checker:
    def __init__(self, graph: ProgramGraph, values: ValueSets, nonempty: frozenset = frozenset()):
        self.graph = graph
        self.values = values
        self.nonempty = nonempty  # selectors proved never to select nothing
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
        bad = [v for v in vals if not is_number(v)]
        infinite = [v for v in vals if is_number(v) and not math.isfinite(v)]
        if infinite:
            self.fail(
                expr,
                f"it is numerical but can take {infinite[0]!r}; a residual direction holds "
                "finite numbers only (inf and nan break every later sum); clip or map those "
                "inputs to finite values",
            )
        if bad:
            shown = ", ".join(repr(v) for v in sorted_values(bad)[:3])
            self.fail(
                expr,
                f"it is numerical but can take non-numeric values ({shown}); a numerical SOp "
                "holds one number per position (None would read as 0); make it categorical "
                "or map those values to numbers",
            )

    def numerical_mlp_input(self, user: rasp.RASPExpr, sop: rasp.SOp) -> None:
        """A staircase needs its input's values listed.  How close they may be is not a
        rule here: each staircase's own float32 estimate (:mod:`compiler.precision`)
        judges the steps the function really takes, so a threshold that crosses one
        wide gap is not refused for narrow gaps it never steps over."""
        self.known(sop, f"the numerical MLP of {user.label!r}")


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
        unused = expr.default is None and sel.label in c.nonempty  # never read
        if not is_number(expr.default) and not unused:
            c.fail(
                expr,
                f"a numerical Aggregate needs a number as its default (found "
                f"{expr.default!r}), the value where no key is selected; pass e.g. default=0",
            )
        vals = c.values[expr.sop.label]
        known = c.known(expr.sop, f"the numerical Aggregate {expr.label!r}")
        if known and any(not is_number(v) for v in vals):
            c.fail(
                expr,
                f"it averages {expr.sop.label!r}, which can take non-numeric values; a "
                "numerical Aggregate needs numbers",
            )


def _selector_width(expr: rasp.SelectorWidth, c: _Checker) -> None:
    pass  # whether its selector has a head is its plan's problem (compiler.constructions)


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
            if listed and any(not is_number(v) for v in c.values[sop.label] if v is not None):
                c.fail(expr, f"its {role} {sop.label!r} has non-numeric values")
        elif rasp.is_numerical(sop):
            c.numerical_mlp_input(expr, sop)
        else:
            c.known(sop, f"{expr.label!r}")


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


RULES: dict[type, Callable[[Any, _Checker], None]] = {
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


def _failure(expr: rasp.RASPExpr, failure: Failure) -> str:
    what = "predicate" if isinstance(expr, rasp.Selector) else "function"
    shown = "; ".join(
        f"on {args[0] if len(args) == 1 else args!r} it {happened}"
        for args, happened in failure.examples
    )
    more = f" (and {failure.count - len(failure.examples)} more)" if failure.count > 3 else ""
    if not failure.raised:
        return (
            f"its {what} returns values the model cannot hold: {shown}{more}; return "
            "hashable values equal to themselves (a tuple, not a list; no nan)"
        )
    return (
        f"its {what} fails on {failure.count} of the inputs raspc infers it can see: "
        f"{shown}{more}; make it handle every input (e.g. return a value for those), or, "
        "if those inputs cannot occur, compile with partial=True to read them as None"
    )


def _warn_partial(raises: dict[str, Failure], graph: ProgramGraph) -> None:
    lines = [f"{label}: {_failure(graph.expr(label), f)}" for label, f in raises.items()]
    warnings.warn(
        "partial=True: these functions fail on some inferred inputs, which the model reads "
        "as None (the evaluator rejects them):\n  " + "\n  ".join(lines),
        PartialFunctionWarning,
        stacklevel=3,
    )


def _internal_name(expr: rasp.RASPExpr) -> str:
    return (
        f"its label contains {INTERNAL_MARK!r}, which raspc reserves for compiler-internal "
        "directions; choose a name without it"
    )


def validate(graph: ProgramGraph, inference: ValueInference, partial: bool = False) -> None:
    """Raise one :class:`UnsupportedProgramError` listing every problem this pass finds
    (the plans' are added by :func:`raise_problems` in :mod:`compiler.blocks`)."""
    problems = collect_problems(graph, inference, partial)
    if problems:
        raise UnsupportedProgramError(problems)


def raise_problems(own: Sequence[Problem], plans: Iterable[Plan]) -> None:
    """Raise one :class:`UnsupportedProgramError` listing validation's problems and every
    plan's, or return when there are none."""
    problems = [*own, *(p for plan in plans for p in plan.problems)]
    if problems:
        raise UnsupportedProgramError(problems)


def collect_problems(
    graph: ProgramGraph, inference: ValueInference, partial: bool = False
) -> list[Problem]:
    """Every (label, reason-and-fix) this pass finds.  The size, float32 precision and
    selector form of each construction are judged by its plan
    (:mod:`compiler.constructions`); :func:`raise_problems` raises these and the plans'
    together.

    ``inference`` also says which functions tell twins apart and which fail on some
    inputs; with ``partial`` the raising ones are compiled (reading as None) with a
    :class:`PartialFunctionWarning` instead of refused."""
    values = inference.sets
    c = _Checker(graph, values, inference.nonempty)
    for label in graph.order:
        expr = graph.expr(label)
        rule = RULES.get(type(expr))
        if rule is None:
            c.fail(expr, f"{type(expr).__name__} is not a RASP primitive raspc knows")
            continue
        if INTERNAL_MARK in label and not isinstance(expr, Zip):
            c.fail(expr, _internal_name(expr))
        rule(expr, c)
        if label in inference.clashes:
            c.fail(expr, _clash(expr, inference.clashes[label]))
        if label in inference.over_budget:
            c.fail(expr, inference.over_budget[label])
        if label in inference.unencodable:
            c.fail(expr, _failure(expr, inference.unencodable[label]))
        if label in inference.raises and not partial:
            c.fail(expr, _failure(expr, inference.raises[label]))
        if isinstance(expr, rasp.SOp):
            if rasp.is_numerical(expr):
                c.numeric_values(expr)
            elif values[label] is None:
                c.known(expr, "its categorical encoding (one direction per value)")
            elif len(values[label]) > MAX_VALUES:
                c.fail(expr, f"it has {len(values[label]):,} values, too many directions")
    if partial and inference.raises and not c.problems:
        _warn_partial(inference.raises, graph)
    return c.problems
