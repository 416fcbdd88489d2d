"""RASP expressions: immutable nodes of a program DAG.

An expression is either an SOp (one value per position) or a Selector (a
boolean query x key matrix).

Names are for people, labels identify nodes.  A *name* is what the user gave
with :meth:`RASPExpr.named`; several expressions may share one (as in Tracr:
a helper called twice names its nodes the same).  A *label* is unique within a
program and derived from the program's structure alone
(:func:`rasp.walk.assign_labels`): the name where it is free, the name plus a
suffix where names collide, ``{kind}_{n}`` numbered in traversal order for
unnamed nodes.  The compiler, :func:`rasp.evaluate_all`, the circuit map and
saved files all use those labels, so compiling the same program twice, in one
process or two, gives the same labels.  Outside a program, ``expr.label`` is
provisional: the name, or ``{kind}_{unique_id}`` with the construction number.

Names mirror Tracr's ``tracr.rasp.rasp`` so ports only change the import.
"""

from __future__ import annotations

import enum
import itertools
import types
from collections.abc import Callable, Iterator, Mapping, Sequence
from types import MappingProxyType
from typing import Any, Protocol, TypeVar

from rasp.errors import RaspcTypeError, RaspcValueError

__all__ = [
    "RASPExpr",
    "SOp",
    "Selector",
    "TokensType",
    "IndicesType",
    "LengthType",
    "tokens",
    "indices",
    "length",
    "Map",
    "SequenceMap",
    "LinearSequenceMap",
    "Full",
    "ConstantSOp",
    "Select",
    "ConstantSelector",
    "Aggregate",
    "SelectorWidth",
    "SelectorAnd",
    "SelectorOr",
    "SelectorNot",
    "Comparison",
    "Encoding",
    "numerical",
    "categorical",
    "get_encoding",
    "is_numerical",
    "is_categorical",
    "annotate",
    "sop_not",
    "selector_and",
    "selector_or",
    "selector_not",
    "Value",
    "SelectorValue",
    "NumericValue",
    "VT",
    "RASPExprT",
    "SOpT",
    "T",
    "Predicate",
    "Annotator",
    "DEFAULT_ANNOTATORS",
    "default_name",
    "default_encoding",
]

# Type names as in Tracr's ``tracr.rasp.rasp`` (so annotations in ported code resolve).
Value = None | int | float | str | bool
SelectorValue = list[list[bool]]
NumericValue = int | float
VT = TypeVar("VT", bound=Value)
RASPExprT = TypeVar("RASPExprT", bound="RASPExpr")
SOpT = TypeVar("SOpT", bound="SOp")
T = TypeVar("T")
ExprT = TypeVar("ExprT", bound="RASPExpr")

_ids = itertools.count(1)


class Encoding(enum.Enum):
    """How an SOp lives in the residual stream."""

    CATEGORICAL = "categorical"  # one direction per possible value
    NUMERICAL = "numerical"  # one direction holding the value


_ENCODING = "encoding"
_NAME = "name"
_LABEL = "_label"  # set only by rasp.walk.relabel: the label assigned within a program


class Annotator(Protocol):
    """A default for one annotation key (Tracr's protocol): called with the expression
    when the key was not given."""

    def __call__(self, expr: RASPExpr) -> Any: ...


DEFAULT_ANNOTATORS: dict[str, Annotator] = {}
"""Defaults for annotation keys nobody set, as in Tracr: ``expr.annotations[key]``
falls back to ``DEFAULT_ANNOTATORS[key](expr)``.  Iterating the annotations lists
only the keys that were set."""


class _Annotations(Mapping):
    """Read-only annotations of one expression, with Tracr's lazy defaults."""

    def __init__(self, expr: RASPExpr, given: Mapping[str, Any]):
        self._expr = expr
        self._given = given

    def __getitem__(self, key: str) -> Any:
        if key in self._given:
            return self._given[key]
        if key in DEFAULT_ANNOTATORS:
            return DEFAULT_ANNOTATORS[key](self._expr)
        raise KeyError(
            f"{self._expr.label}: no annotation {key!r}; set ones are {sorted(self._given)}, "
            f"defaults exist for {sorted(DEFAULT_ANNOTATORS)}"
        )

    def __contains__(self, key: object) -> bool:
        return key in self._given

    def __iter__(self) -> Iterator[str]:
        return iter(self._given)

    def __len__(self) -> int:
        return len(self._given)

    def __repr__(self) -> str:
        return repr(dict(self._given))


class RASPExpr:
    """Base of all expressions. Immutable: attributes are set once in ``__init__``."""

    _kind = "expr"
    _children_tuple: str | None = None  # a subclass whose children are one tuple field

    def __init__(self) -> None:
        object.__setattr__(self, "_id", next(_ids))
        object.__setattr__(self, "_annotations", MappingProxyType({}))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(
            f"RASP expressions are immutable; cannot set {name!r} on {self.label!r}. "
            "Build a new expression instead (e.g. .named() or .annotated() return copies)."
        )

    def _init_field(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)

    @property
    def unique_id(self) -> int:
        """The construction number; distinct for every expression ever built."""
        return self._id

    @property
    def annotations(self) -> Mapping[str, Any]:
        """Read-only annotations (``name``, ``encoding`` and any user keys); keys nobody
        set fall back to :data:`DEFAULT_ANNOTATORS` (so ``annotations["encoding"]``
        is always defined, as in Tracr)."""
        return _Annotations(self, self._annotations)

    @property
    def name(self) -> str | None:
        """The user-given name, or None."""
        return self._annotations.get(_NAME)

    @property
    def label(self) -> str:
        """The label assigned within a program (see :func:`rasp.walk.relabel`); outside
        one, the provisional label: the name, or ``{kind}_{unique_id}``."""
        assigned = self.__dict__.get(_LABEL)
        if assigned is not None:
            return assigned
        name = self.name
        return name if name is not None else f"{self._kind}_{self._id}"

    def __call__(self, xs: Sequence[Any]) -> Any:
        """The expression evaluated on ``xs`` (Tracr's ``program(xs)``): a list of
        values for an SOp, a list of boolean rows for a selector."""
        from rasp.evaluate import evaluate  # evaluate imports this module

        return evaluate(self, xs)

    def copy(self: ExprT) -> ExprT:
        """A shallow copy with a new id (Tracr's ``copy``)."""
        return self.annotated()

    @property
    def children(self) -> tuple[RASPExpr, ...]:
        """The direct inputs of this expression, in a fixed order."""
        return ()

    def annotated(self: ExprT, **annotations: Any) -> ExprT:
        """A copy with extra annotations (later keys win); the copy gets a fresh id."""
        if _NAME in annotations:
            _check_name(annotations[_NAME])
        if _ENCODING in annotations and not isinstance(annotations[_ENCODING], Encoding):
            raise RaspcTypeError(
                f"{self.label}: encoding must be a rasp.Encoding, "
                f"found {annotations[_ENCODING]!r}; use rasp.numerical() or rasp.categorical()"
            )
        new = object.__new__(type(self))
        for key, value in self.__dict__.items():
            if key != _LABEL:  # a copy is a new expression: it is labelled afresh
                object.__setattr__(new, key, value)
        object.__setattr__(new, "_id", next(_ids))
        merged = {**self._annotations, **annotations}
        object.__setattr__(new, "_annotations", MappingProxyType(merged))
        return new

    def named(self: ExprT, name: str) -> ExprT:
        """A copy labelled ``name``."""
        return self.annotated(name=name)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.label})"

    __hash__ = object.__hash__


def _check_name(name: Any) -> None:
    if not isinstance(name, str) or not name:
        raise RaspcTypeError(f"a name must be a non-empty string, found {name!r}")
    if ":" in name:
        raise RaspcValueError(
            f"name {name!r} contains ':', which separates label and value in residual "
            "labels; choose a name without ':'"
        )


def _child_fields(expr: RASPExpr) -> tuple[str, ...]:
    if isinstance(expr, (SequenceMap, _SelectorPair)):
        return ("fst", "snd")
    if isinstance(expr, (Map, SelectorNot)):
        return ("inner",)
    if isinstance(expr, Select):
        return ("keys", "queries")
    if isinstance(expr, Aggregate):
        return ("selector", "sop")
    if isinstance(expr, SelectorWidth):
        return ("selector",)
    return ()


def rebuilt(
    expr: ExprT, children: tuple[RASPExpr, ...], *, as_type: type | None = None, **fields: Any
) -> RASPExpr:
    """A copy of ``expr`` (same label, same id) reading ``children``, optionally of another
    expression type (``as_type``) and with other fields (e.g. ``f``) replaced.

    For compiler rewrites that replace a node by an equivalent one: the copy keeps
    the original's label, so every pass and report still names the user's node.
    """
    cls = as_type or type(expr)
    new = object.__new__(cls)
    for key in ("_id", "_annotations", _LABEL):
        if key in expr.__dict__:
            object.__setattr__(new, key, expr.__dict__[key])
    if cls is not type(expr):
        object.__setattr__(new, "_kind", expr._kind)  # keep the label's kind prefix
    else:
        for key, value in expr.__dict__.items():
            object.__setattr__(new, key, value)
    if cls._children_tuple is not None:  # e.g. a compiler node holding its inputs in a tuple
        object.__setattr__(new, cls._children_tuple, tuple(children))
    else:
        names = _child_fields(new)
        if len(names) != len(children):
            raise RaspcValueError(
                f"{expr.label}: {cls.__name__} has {len(names)} children, got {len(children)}"
            )
        for name, child in zip(names, children):
            object.__setattr__(new, name, child)
    for name, value in fields.items():
        object.__setattr__(new, name, value)
    return new


def annotate(expr: ExprT, **annotations: Any) -> ExprT:
    """Tracr-compatible spelling of :meth:`RASPExpr.annotated`."""
    return expr.annotated(**annotations)


def _require(value: Any, kind: type, role: str, owner: str) -> None:
    if not isinstance(value, kind):
        raise RaspcTypeError(
            f"{owner}: {role} must be a rasp.{kind.__name__}, found {type(value).__name__} "
            f"({value!r})"
        )


def _require_callable(value: Any, role: str, owner: str) -> None:
    if not callable(value):
        raise RaspcTypeError(f"{owner}: {role} must be callable, found {value!r}")


# ---------------------------------------------------------------- SOps


class SOp(RASPExpr):
    """A sequence operation: one value per position.

    Arithmetic, comparison and boolean operators build Maps (with a constant)
    or SequenceMaps (with another SOp), as in Tracr.
    """

    _kind = "sop"

    def __lt__(self, other: Any) -> SOp:
        return _binary(self, other, lambda x, y: x < y)

    def __le__(self, other: Any) -> SOp:
        return _binary(self, other, lambda x, y: x <= y)

    def __eq__(self, other: Any) -> SOp:  # type: ignore[override]
        return _binary(self, other, lambda x, y: x == y)

    def __ne__(self, other: Any) -> SOp:  # type: ignore[override]
        return _binary(self, other, lambda x, y: x != y)

    def __gt__(self, other: Any) -> SOp:
        return _binary(self, other, lambda x, y: x > y)

    def __ge__(self, other: Any) -> SOp:
        return _binary(self, other, lambda x, y: x >= y)

    def __add__(self, other: Any) -> SOp:
        return _binary(self, other, lambda x, y: x + y)

    def __radd__(self, other: Any) -> SOp:
        return _rbinary(self, other, lambda x, y: x + y)

    def __sub__(self, other: Any) -> SOp:
        return _binary(self, other, lambda x, y: x - y)

    def __rsub__(self, other: Any) -> SOp:
        return _rbinary(self, other, lambda x, y: x - y)

    def __mul__(self, other: Any) -> SOp:
        return _binary(self, other, lambda x, y: x * y)

    def __rmul__(self, other: Any) -> SOp:
        return _rbinary(self, other, lambda x, y: x * y)

    def __truediv__(self, other: Any) -> SOp:
        return _binary(self, other, lambda x, y: x / y)

    def __rtruediv__(self, other: Any) -> SOp:
        return _rbinary(self, other, lambda x, y: x / y)

    def __invert__(self) -> SOp:
        return Map(lambda x: not x, self)

    def __and__(self, other: Any) -> SOp:
        return _binary(self, other, lambda x, y: x and y)

    def __rand__(self, other: Any) -> SOp:
        return _rbinary(self, other, lambda x, y: x and y)

    def __or__(self, other: Any) -> SOp:
        return _binary(self, other, lambda x, y: x or y)

    def __ror__(self, other: Any) -> SOp:
        return _rbinary(self, other, lambda x, y: x or y)

    __hash__ = RASPExpr.__hash__


def _binary(sop: SOp, other: Any, fn: Callable[[Any, Any], Any]) -> SOp:
    if isinstance(other, SOp):
        return SequenceMap(fn, sop, other)
    if isinstance(other, RASPExpr):
        raise RaspcTypeError(f"{sop.label}: cannot combine an SOp with selector {other.label}")
    return Map(lambda x: fn(x, other), sop)


def _rbinary(sop: SOp, other: Any, fn: Callable[[Any, Any], Any]) -> SOp:
    if isinstance(other, SOp):
        return SequenceMap(fn, other, sop)
    if isinstance(other, RASPExpr):
        raise RaspcTypeError(f"{sop.label}: cannot combine an SOp with selector {other.label}")
    return Map(lambda x: fn(other, x), sop)


class TokensType(SOp):
    """The input tokens."""

    _kind = "tokens"

    @property
    def label(self) -> str:
        return self.__dict__.get(_LABEL) or "tokens"


class IndicesType(SOp):
    """The position of each token, from 0."""

    _kind = "indices"

    @property
    def label(self) -> str:
        return self.__dict__.get(_LABEL) or "indices"


class LengthType(SOp):
    """The length of the input, at every position."""

    _kind = "length"

    @property
    def label(self) -> str:
        return self.__dict__.get(_LABEL) or "length"


def _primitive_annotated(self: SOp, **annotations: Any) -> SOp:
    if _NAME in annotations:
        raise RaspcValueError(
            f"the primitive {self.label!r} cannot be renamed; wrap it in rasp.Map(lambda x: x, "
            f"{self.label}) and name that"
        )
    return RASPExpr.annotated(self, **annotations)


TokensType.annotated = _primitive_annotated  # type: ignore[method-assign]
IndicesType.annotated = _primitive_annotated  # type: ignore[method-assign]
LengthType.annotated = _primitive_annotated  # type: ignore[method-assign]

tokens = TokensType()
indices = IndicesType()
length = LengthType()


class Map(SOp):
    """``f`` applied to each value of ``inner``.

    With ``simplify=True`` (Tracr's default) a Map of an unnamed Map is fused
    into one Map of the inner input, which saves an MLP layer.
    """

    _kind = "map"

    def __init__(self, f: Callable[[Value], Value], inner: SOp, simplify: bool = True):
        super().__init__()
        _require_callable(f, "f", "Map")
        _require(inner, SOp, "inner", "Map")
        if simplify and type(inner) is Map and inner.name is None:
            g = inner.f
            self._init_field("f", lambda x: f(g(x)))
            self._init_field("inner", inner.inner)
        else:
            self._init_field("f", f)
            self._init_field("inner", inner)
        self._init_field("simplify", simplify)  # the compiler composes named chains too

    @property
    def children(self) -> tuple[RASPExpr, ...]:
        return (self.inner,)

    __hash__ = SOp.__hash__


class SequenceMap(SOp):
    """``f(x, y)`` of two SOps, position by position."""

    _kind = "sequence_map"

    def __init__(self, f: Callable[[Value, Value], Value], fst: SOp, snd: SOp):
        super().__init__()
        owner = type(self).__name__
        _require_callable(f, "f", owner)
        _require(fst, SOp, "fst", owner)
        _require(snd, SOp, "snd", owner)
        self._init_field("f", f)
        self._init_field("fst", fst)
        self._init_field("snd", snd)

    @property
    def children(self) -> tuple[RASPExpr, ...]:
        return (self.fst, self.snd)

    __hash__ = SOp.__hash__


class LinearSequenceMap(SequenceMap):
    """``fst_fac * x + snd_fac * y``: a SequenceMap the compiler builds without lookups."""

    _kind = "linear_sequence_map"

    def __init__(self, fst: SOp, snd: SOp, fst_fac: float, snd_fac: float):
        for fac, role in ((fst_fac, "fst_fac"), (snd_fac, "snd_fac")):
            if isinstance(fac, bool) or not isinstance(fac, (int, float)):
                raise RaspcTypeError(f"LinearSequenceMap: {role} must be a number, found {fac!r}")
        super().__init__(lambda x, y: fst_fac * x + snd_fac * y, fst, snd)
        self._init_field("fst_fac", fst_fac)
        self._init_field("snd_fac", snd_fac)

    __hash__ = SOp.__hash__


class Full(SOp):
    """The constant ``fill`` at every position."""

    _kind = "full"

    def __init__(self, fill: Value):
        super().__init__()
        self._init_field("fill", fill)

    __hash__ = SOp.__hash__


class ConstantSOp(SOp):
    """A fixed sequence of values (one per position)."""

    _kind = "constant_sop"
    __class_getitem__ = classmethod(types.GenericAlias)  # ConstantSOp[int], as in Tracr

    def __init__(self, value: Sequence[Value], check_length: bool = True):
        super().__init__()
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
            raise RaspcTypeError(f"ConstantSOp: value must be a sequence, found {value!r}")
        self._init_field("value", tuple(value))
        self._init_field("check_length", bool(check_length))

    __hash__ = SOp.__hash__


# ---------------------------------------------------------------- selectors


class Comparison(enum.Enum):
    """A predicate ``(key, query) -> bool`` for Select, with Tracr's key/query order.

    ``LT`` selects keys smaller than the query: ``key < query``.
    """

    EQ = "=="
    LT = "<"
    LEQ = "<="
    GT = ">"
    GEQ = ">="
    NEQ = "!="
    TRUE = "True"
    FALSE = "False"

    def __call__(self, key: Value, query: Value) -> bool:
        if key is None or query is None:
            raise RaspcValueError(
                f"Comparison.{self.name} is undefined for None (key={key!r}, query={query!r})"
            )
        return _COMPARE[self](key, query)


_COMPARE: dict[Comparison, Callable[[Value, Value], bool]] = {
    Comparison.EQ: lambda k, q: k == q,
    Comparison.LT: lambda k, q: k < q,
    Comparison.LEQ: lambda k, q: k <= q,
    Comparison.GT: lambda k, q: k > q,
    Comparison.GEQ: lambda k, q: k >= q,
    Comparison.NEQ: lambda k, q: k != q,
    Comparison.TRUE: lambda k, q: True,
    Comparison.FALSE: lambda k, q: False,
}


class Selector(RASPExpr):
    """A boolean matrix ``sel[q][k]``; ``&``, ``|`` and ``~`` combine selectors."""

    _kind = "selector"

    def __and__(self, other: Selector) -> Selector:
        return SelectorAnd(self, other)

    def __or__(self, other: Selector) -> Selector:
        return SelectorOr(self, other)

    def __invert__(self) -> Selector:
        return SelectorNot(self)

    def __rand__(self, other: Selector) -> Selector:
        return SelectorAnd(other, self)

    def __ror__(self, other: Selector) -> Selector:
        return SelectorOr(other, self)


class Predicate(Protocol):
    """What Select accepts besides a :class:`Comparison`: ``(key, query) -> bool``."""

    def __call__(self, key: Any, query: Any) -> bool: ...


class Select(Selector):
    """``sel[q][k] = predicate(keys[k], queries[q])``."""

    _kind = "select"

    def __init__(
        self, keys: SOp, queries: SOp, predicate: Comparison | Callable[[Value, Value], bool]
    ):
        super().__init__()
        _require(keys, SOp, "keys", "Select")
        _require(queries, SOp, "queries", "Select")
        _require_callable(predicate, "predicate", "Select")
        self._init_field("keys", keys)
        self._init_field("queries", queries)
        self._init_field("predicate", predicate)

    @property
    def children(self) -> tuple[RASPExpr, ...]:
        return (self.keys, self.queries)


class ConstantSelector(Selector):
    """A fixed selector matrix, for tests (not compilable)."""

    _kind = "constant_selector"

    def __init__(self, value: Sequence[Sequence[bool]], check_length: bool = True):
        super().__init__()
        self._init_field("value", tuple(tuple(bool(v) for v in row) for row in value))
        self._init_field("check_length", bool(check_length))


class _SelectorPair(Selector):
    """Shared shape of the two binary selector combinators."""

    def __init__(self, fst: Selector, snd: Selector):
        super().__init__()
        _require(fst, Selector, "fst", type(self).__name__)
        _require(snd, Selector, "snd", type(self).__name__)
        self._init_field("fst", fst)
        self._init_field("snd", snd)

    @property
    def children(self) -> tuple[RASPExpr, ...]:
        return (self.fst, self.snd)


class SelectorAnd(_SelectorPair):
    """Selected where both selectors select."""

    _kind = "selector_and"


class SelectorOr(_SelectorPair):
    """Selected where either selector selects."""

    _kind = "selector_or"


class SelectorNot(Selector):
    """Selected where the inner selector does not select."""

    _kind = "selector_not"

    def __init__(self, inner: Selector):
        super().__init__()
        _require(inner, Selector, "inner", "SelectorNot")
        self._init_field("inner", inner)

    @property
    def children(self) -> tuple[RASPExpr, ...]:
        return (self.inner,)


class Aggregate(SOp):
    """Per query, the selected values of ``sop``: their mean (numerical) or the one value
    they share (categorical); ``default`` where nothing is selected."""

    _kind = "aggregate"
    __class_getitem__ = classmethod(types.GenericAlias)  # Aggregate[int], as in Tracr

    def __init__(self, selector: Selector, sop: SOp, default: Value = None):
        super().__init__()
        _require(selector, Selector, "selector", "Aggregate")
        _require(sop, SOp, "sop", "Aggregate")
        if default is not None and not isinstance(default, (str, int, float, bool)):
            raise RaspcTypeError(
                f"Aggregate: default must be None, str, int, float or bool, found {default!r}"
            )
        self._init_field("selector", selector)
        self._init_field("sop", sop)
        self._init_field("default", default)

    @property
    def children(self) -> tuple[RASPExpr, ...]:
        return (self.selector, self.sop)

    __hash__ = SOp.__hash__


class SelectorWidth(SOp):
    """Per query, how many keys the selector selects."""

    _kind = "selector_width"

    def __init__(self, selector: Selector):
        super().__init__()
        _require(selector, Selector, "selector", "SelectorWidth")
        self._init_field("selector", selector)

    @property
    def children(self) -> tuple[RASPExpr, ...]:
        return (self.selector,)

    __hash__ = SOp.__hash__


# ---------------------------------------------------------------- encodings


def numerical(sop: ExprT) -> ExprT:
    """A copy of ``sop`` stored as one residual direction holding its value."""
    _require(sop, SOp, "argument", "numerical")
    return sop.annotated(encoding=Encoding.NUMERICAL)


def categorical(sop: ExprT) -> ExprT:
    """A copy of ``sop`` stored as one residual direction per value (the default)."""
    _require(sop, SOp, "argument", "categorical")
    return sop.annotated(encoding=Encoding.CATEGORICAL)


def get_encoding(sop: SOp) -> Encoding:
    """The SOp's encoding; categorical unless annotated otherwise."""
    _require(sop, SOp, "argument", "get_encoding")
    return sop.annotations.get(_ENCODING, Encoding.CATEGORICAL)


def is_numerical(sop: SOp) -> bool:
    return get_encoding(sop) is Encoding.NUMERICAL


def is_categorical(sop: SOp) -> bool:
    return get_encoding(sop) is Encoding.CATEGORICAL


# ---------------------------------------------------------------- Tracr's helper functions


def sop_not(sop: SOp) -> SOp:
    """``not`` of each value (Tracr's spelling of ``~sop``)."""
    return Map(lambda x: not x, sop)


def selector_not(inner: Selector, simplify: bool = True) -> Selector:
    """``~inner``.  ``simplify`` is accepted for Tracr's signature; raspc keeps the
    combinator (its compiler builds combinators of Selects into one head directly, and
    folding ``not`` into a Select's predicate would change what a None key selects)."""
    del simplify
    return SelectorNot(inner)


def selector_and(fst: Selector, snd: Selector, simplify: bool = True) -> Selector:
    """``fst & snd``; ``simplify`` is accepted for Tracr's signature (see
    :func:`selector_not`): the same selection either way."""
    del simplify
    return SelectorAnd(fst, snd)


def selector_or(fst: Selector, snd: Selector, simplify: bool = True) -> Selector:
    """``fst | snd``; ``simplify`` is accepted for Tracr's signature (see
    :func:`selector_not`): the same selection either way."""
    del simplify
    return SelectorOr(fst, snd)


def default_name(expr: RASPExpr) -> str:
    """The kind name Tracr gives an unnamed expression (``"map"``, ``"select"``, ...)."""
    return expr._kind


def default_encoding(expr: RASPExpr) -> Encoding:
    """SOps are categorical unless annotated otherwise; selectors have no encoding."""
    if not isinstance(expr, SOp):
        raise RaspcTypeError(f"{expr.label}: only SOps have an encoding, found a selector")
    return Encoding.CATEGORICAL


DEFAULT_ANNOTATORS[_ENCODING] = default_encoding
DEFAULT_ANNOTATORS[_NAME] = default_name
