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

Each node type is declared once, as a frozen dataclass (:func:`node`): its
fields in order are its constructor's positional arguments (Tracr's), and the
fields declared with :func:`child` / :func:`child_tuple` are its inputs, from
which ``children``, type checks and :func:`with_children` follow.  Every
construction, including the copies :meth:`RASPExpr.named` and compiler
rewrites make with :func:`replace`, goes through the dataclass constructor and
draws a fresh :attr:`RASPExpr.unique_id`; a rewrite says explicitly which label
(``origin``) the new node carries.  :data:`NODE_TYPES` lists every concrete
node type, compiler-internal :class:`Zip` included; every pass dispatches on
them through a ``RULES`` table (tests/test_dispatch.py checks the tables cover
them all).

Names mirror Tracr's ``tracr.rasp.rasp`` so ports only change the import.
"""

from __future__ import annotations

import enum
import functools
import itertools
import types
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import Field, InitVar, dataclass, field, fields
from types import MappingProxyType
from typing import Any, Protocol, TypeVar

from rasp.errors import RaspcTypeError, RaspcValueError

__all__ = [
    "RASPExpr",
    "NODE_TYPES",
    "SOP_TYPES",
    "Zip",
    "child",
    "child_fields",
    "child_tuple",
    "node",
    "replace",
    "rule_for",
    "with_children",
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


# ---------------------------------------------------------------- declaring nodes

_CHILD = "rasp.child"  # field metadata: the field holds one input expression of this type
_CHILDREN = "rasp.children"  # field metadata: the field holds a tuple of input expressions


def child(kind: type) -> Any:
    """Declare a dataclass field that holds one input of type ``kind`` (an SOp or a
    Selector): :attr:`RASPExpr.children`, type checks and :func:`replace` read it."""
    return field(metadata={_CHILD: kind})


def child_tuple(kind: type) -> Any:
    """Declare a field that holds a tuple of inputs, each of type ``kind``."""
    return field(metadata={_CHILDREN: kind})


def _refuse_setattr(self: RASPExpr, name: str, value: Any) -> None:
    raise AttributeError(
        f"RASP expressions are immutable; cannot set {name!r} on {self.label!r}. "
        "Build a new expression instead (e.g. .named() or .annotated() return copies)."
    )


def _refuse_delattr(self: RASPExpr, name: str) -> None:
    _refuse_setattr(self, name, None)


def node(cls: type[ExprT]) -> type[ExprT]:
    """Make ``cls`` a RASP node: a frozen dataclass (fields in declaration order are its
    constructor's positional arguments, as in Tracr), compared by identity, immutable
    with a message that names the expression."""
    cls = dataclass(frozen=True, eq=False, repr=False)(cls)
    cls.__setattr__ = _refuse_setattr  # type: ignore[method-assign,assignment]
    cls.__delattr__ = _refuse_delattr  # type: ignore[method-assign,assignment]
    return cls


@functools.cache
def child_fields(cls: type) -> tuple[Field, ...]:
    """The fields of node type ``cls`` that hold inputs, in ``children`` order."""
    return tuple(f for f in fields(cls) if _CHILD in f.metadata or _CHILDREN in f.metadata)


@node
class RASPExpr:
    """Base of all expressions: a frozen dataclass whose ``child(...)`` fields are its
    inputs.  Every construction, including :func:`replace`, goes through
    ``__post_init__``, which checks the fields and draws a fresh :attr:`unique_id`."""

    _abstract = True  # not a node type of its own: RULES tables need no entry

    _annotations: Mapping[str, Any] = field(default_factory=dict, kw_only=True)
    _label: str | None = field(default=None, kw_only=True)  # see rasp.walk.relabel
    _as_given: InitVar[bool] = field(default=False, kw_only=True)  # skip _normalize
    _id: int = field(init=False)

    _kind = "expr"

    def __post_init__(self, _as_given: bool) -> None:
        owner = type(self).__name__
        for f in child_fields(type(self)):
            if _CHILD in f.metadata:
                _require(getattr(self, f.name), f.metadata[_CHILD], f.name, owner)
            else:
                parts = tuple(getattr(self, f.name))
                for part in parts:
                    _require(part, f.metadata[_CHILDREN], f.name, owner)
                object.__setattr__(self, f.name, parts)
        self._check()
        if not _as_given:
            self._normalize()
        object.__setattr__(self, "_annotations", MappingProxyType(dict(self._annotations)))
        object.__setattr__(self, "_id", next(_ids))

    def _check(self) -> None:
        """Check (and canonicalise, e.g. to tuples) the non-child fields."""

    def _normalize(self) -> None:
        """Rewrite the fields as the public constructor does (Map's ``simplify``);
        skipped by :func:`replace`, which copies a node as it is."""

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
        if self._label is not None:
            return self._label
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
        """The direct inputs of this expression, in a fixed order (its ``child`` fields
        in declaration order)."""
        out: list[RASPExpr] = []
        for f in child_fields(type(self)):
            value = getattr(self, f.name)
            out.extend(value) if _CHILDREN in f.metadata else out.append(value)
        return tuple(out)

    def annotated(self: ExprT, **annotations: Any) -> ExprT:
        """A copy with extra annotations (later keys win); the copy gets a fresh id and
        is labelled afresh."""
        if _NAME in annotations:
            _check_name(annotations[_NAME])
        if _ENCODING in annotations and not isinstance(annotations[_ENCODING], Encoding):
            raise RaspcTypeError(
                f"{self.label}: encoding must be a rasp.Encoding, "
                f"found {annotations[_ENCODING]!r}; use rasp.numerical() or rasp.categorical()"
            )
        return replace(self, None, _annotations={**self._annotations, **annotations})

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


def replace(
    expr: RASPExpr, origin: str | None, /, *, as_type: type | None = None, **changes: Any
) -> RASPExpr:
    """A new expression (fresh id, fields checked) equal to ``expr`` except for
    ``changes``, optionally of another node type (``as_type``: fields it lacks must be
    in ``changes``).  ``origin`` is the label it carries: the label of the user's node
    it stands for (compiler rewrites replace a node by an equivalent one, and every
    pass and report still names the user's node), or None to be labelled afresh.

    The copy keeps ``expr``'s annotations and is not simplified again (a Map built
    with ``simplify=True`` stays the Map it is)."""
    cls = as_type or type(expr)
    values = {
        f.name: getattr(expr, f.name)
        for f in fields(cls)
        if f.init and f.name not in changes and hasattr(expr, f.name)
    }
    values.update(changes)
    values["_label"] = origin
    return cls(**values, _as_given=True)


def with_children(
    expr: ExprT, children: Sequence[RASPExpr], origin: str | None, /, **changes: Any
) -> ExprT:
    """:func:`replace` with the inputs replaced by ``children`` (in ``children`` order)."""
    children = tuple(children)
    if len(children) != len(expr.children):
        raise RaspcValueError(
            f"{expr.label}: {type(expr).__name__} has {len(expr.children)} children, "
            f"got {len(children)}"
        )
    at = 0
    for f in child_fields(type(expr)):
        if _CHILDREN in f.metadata:
            size = len(getattr(expr, f.name))
            changes.setdefault(f.name, children[at : at + size])
            at += size
        else:
            changes.setdefault(f.name, children[at])
            at += 1
    return replace(expr, origin, **changes)  # type: ignore[return-value]


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


@node
class SOp(RASPExpr):
    """A sequence operation: one value per position.

    Arithmetic, comparison and boolean operators build Maps (with a constant)
    or SequenceMaps (with another SOp), as in Tracr.
    """

    _abstract = True  # not a node type of its own: RULES tables need no entry

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

    __hash__ = RASPExpr.__hash__  # the comparison operators build SOps, not booleans


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


@node
class _Primitive(SOp):
    """An input of the program; its label is its kind, and it cannot be renamed."""

    _abstract = True  # not a node type of its own: RULES tables need no entry

    @property
    def label(self) -> str:
        return self._label or self._kind

    def annotated(self: ExprT, **annotations: Any) -> ExprT:
        if _NAME in annotations:
            raise RaspcValueError(
                f"the primitive {self.label!r} cannot be renamed; wrap it in "
                f"rasp.Map(lambda x: x, {self.label}) and name that"
            )
        return RASPExpr.annotated(self, **annotations)


@node
class TokensType(_Primitive):
    """The input tokens."""

    _kind = "tokens"


@node
class IndicesType(_Primitive):
    """The position of each token, from 0."""

    _kind = "indices"


@node
class LengthType(_Primitive):
    """The length of the input, at every position."""

    _kind = "length"


tokens = TokensType()
indices = IndicesType()
length = LengthType()


@node
class Map(SOp):
    """``f`` applied to each value of ``inner``.

    With ``simplify=True`` (Tracr's default) a Map of an unnamed Map is fused
    into one Map of the inner input, which saves an MLP layer.  ``simplify`` is kept:
    the compiler composes named chains too.
    """

    f: Callable[[Value], Value]
    inner: SOp = child(SOp)
    simplify: bool = True

    _kind = "map"

    def _check(self) -> None:
        _require_callable(self.f, "f", "Map")

    def _normalize(self) -> None:
        inner = self.inner
        if self.simplify and type(inner) is Map and inner.name is None:
            f, g = self.f, inner.f
            object.__setattr__(self, "f", lambda x: f(g(x)))
            object.__setattr__(self, "inner", inner.inner)


@node
class SequenceMap(SOp):
    """``f(x, y)`` of two SOps, position by position."""

    f: Callable[[Value, Value], Value]
    fst: SOp = child(SOp)
    snd: SOp = child(SOp)

    _kind = "sequence_map"

    def _check(self) -> None:
        _require_callable(self.f, "f", type(self).__name__)


@node
class LinearSequenceMap(SequenceMap):
    """``fst_fac * x + snd_fac * y``: a SequenceMap the compiler builds without lookups."""

    f: Callable[[Value, Value], Value] = field(init=False)  # from the factors
    fst_fac: float
    snd_fac: float

    _kind = "linear_sequence_map"

    def _check(self) -> None:
        for fac, role in ((self.fst_fac, "fst_fac"), (self.snd_fac, "snd_fac")):
            if isinstance(fac, bool) or not isinstance(fac, (int, float)):
                raise RaspcTypeError(f"LinearSequenceMap: {role} must be a number, found {fac!r}")
        a, b = self.fst_fac, self.snd_fac
        object.__setattr__(self, "f", lambda x, y: a * x + b * y)


@node
class Full(SOp):
    """The constant ``fill`` at every position."""

    fill: Value

    _kind = "full"


@node
class ConstantSOp(SOp):
    """A fixed sequence of values (one per position)."""

    value: Sequence[Value]
    check_length: bool = True

    _kind = "constant_sop"
    __class_getitem__ = classmethod(types.GenericAlias)  # ConstantSOp[int], as in Tracr

    def _check(self) -> None:
        if isinstance(self.value, (str, bytes)) or not isinstance(self.value, Sequence):
            raise RaspcTypeError(f"ConstantSOp: value must be a sequence, found {self.value!r}")
        object.__setattr__(self, "value", tuple(self.value))
        object.__setattr__(self, "check_length", bool(self.check_length))


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


@node
class Selector(RASPExpr):
    """A boolean matrix ``sel[q][k]``; ``&``, ``|`` and ``~`` combine selectors."""

    _abstract = True  # not a node type of its own: RULES tables need no entry

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


@node
class Select(Selector):
    """``sel[q][k] = predicate(keys[k], queries[q])``."""

    keys: SOp = child(SOp)
    queries: SOp = child(SOp)
    predicate: Comparison | Callable[[Value, Value], bool]

    _kind = "select"

    def _check(self) -> None:
        _require_callable(self.predicate, "predicate", "Select")


@node
class ConstantSelector(Selector):
    """A fixed selector matrix, for tests (not compilable)."""

    value: Sequence[Sequence[bool]]
    check_length: bool = True

    _kind = "constant_selector"

    def _check(self) -> None:
        rows = tuple(tuple(bool(v) for v in row) for row in self.value)
        object.__setattr__(self, "value", rows)
        object.__setattr__(self, "check_length", bool(self.check_length))


@node
class SelectorAnd(Selector):
    """Selected where both selectors select."""

    fst: Selector = child(Selector)
    snd: Selector = child(Selector)

    _kind = "selector_and"


@node
class SelectorOr(Selector):
    """Selected where either selector selects."""

    fst: Selector = child(Selector)
    snd: Selector = child(Selector)

    _kind = "selector_or"


@node
class SelectorNot(Selector):
    """Selected where the inner selector does not select."""

    inner: Selector = child(Selector)

    _kind = "selector_not"


@node
class Aggregate(SOp):
    """Per query, the selected values of ``sop``: their mean (numerical) or the one value
    they share (categorical); ``default`` where nothing is selected."""

    selector: Selector = child(Selector)
    sop: SOp = child(SOp)
    default: Value = None

    _kind = "aggregate"
    __class_getitem__ = classmethod(types.GenericAlias)  # Aggregate[int], as in Tracr

    def _check(self) -> None:
        default = self.default
        if default is not None and not isinstance(default, (str, int, float, bool)):
            raise RaspcTypeError(
                f"Aggregate: default must be None, str, int, float or bool, found {default!r}"
            )


@node
class SelectorWidth(SOp):
    """Per query, how many keys the selector selects."""

    selector: Selector = child(Selector)

    _kind = "selector_width"


# ---------------------------------------------------------------- compiler-internal nodes


@node
class Zip(SOp):
    """Compiler-internal (built by :mod:`compiler.pairing`, not by programs): the tuple
    of ``parts``' values at each position, with None components kept (the tuple itself
    is never None).  ``origin`` is the label of the user's selector it was built for,
    so reports can name it.  Defined here so that the evaluator has a rule for it and
    a compiled graph can be evaluated like a program."""

    parts: tuple[SOp, ...] = child_tuple(SOp)
    origin: str = ""

    _kind = "zip"


NODE_TYPES: tuple[type[RASPExpr], ...] = (
    TokensType,
    IndicesType,
    LengthType,
    Map,
    SequenceMap,
    LinearSequenceMap,
    Full,
    ConstantSOp,
    Aggregate,
    SelectorWidth,
    Zip,
    Select,
    ConstantSelector,
    SelectorAnd,
    SelectorOr,
    SelectorNot,
)
"""Every concrete node type: what a pass's ``RULES`` table must cover."""
SOP_TYPES = tuple(t for t in NODE_TYPES if issubclass(t, SOp))

RuleT = TypeVar("RuleT")


def rule_for(rules: Mapping[type, RuleT], expr: RASPExpr, what: str) -> RuleT:
    """The entry of a pass's ``RULES`` table for ``expr``'s type, or a clear error
    (tests/test_dispatch.py checks every table covers :data:`NODE_TYPES`, so this
    fires only for a node type from outside raspc)."""
    rule = rules.get(type(expr))
    if rule is None:
        raise RaspcTypeError(
            f"{expr.label}: no {what} rule for {type(expr).__name__}; build programs "
            "from the rasp primitives"
        )
    return rule


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
