"""Random well-formed RASP programs, for differential testing and benchmark sets.

A program is drawn as a *recipe*: a tuple of :class:`Step` records, each one
operation with the indices of the earlier steps it reads.  The recipe, not a
finished expression, is what the generator produces, because one recipe builds
the same program against any module that has RASP's names: :func:`build` with
``rasp`` for raspc, with ``tracr.rasp.rasp`` for Tracr (:func:`to_tracr`).
Functions and predicates are :class:`Fn` objects that hold lambda source text;
the text is the single source of truth, so :meth:`GeneratedProgram.source`
prints a program that runs exactly as printed (paste it into a regression test).

Everything is drawn from ``random.Random(seed)``, so a seed gives the same
program in every process.  Programs mix every primitive (Map, SequenceMap,
LinearSequenceMap, Full, ConstantSOp, Select with every Comparison and with
callable predicates, categorical and numerical Aggregate, SelectorWidth,
SelectorAnd/Or/Not, tokens/indices/length), both encodings, named and unnamed
nodes, over integer or string vocabularies.

They are meant to be mostly *compilable*, as a careful user writes them:
categorical Aggregates mostly select one key (``Select(indices, q, EQ)``), or
keys sharing the aggregated value, or aggregate a value that is constant
along the sequence; numerical Aggregates average numbers with default 0;
functions keep value sets small (modular arithmetic, comparisons, bucketing,
small lookup tables).  A few programs (``refusal_rate``, 5% by default) break
one documented compiler rule on purpose, so the refusal paths run too.

>>> import rasp
>>> g = generate_program(7, depth=2, size=3, vocab=("a", "b"), max_seq_len=3)
>>> g == generate_program(7, depth=2, size=3, vocab=("a", "b"), max_seq_len=3)
True
>>> out = rasp.evaluate(g.program, ["a", "b", "a"])
>>> len(out)
3
"""

from __future__ import annotations

import dataclasses
import itertools
import random
from collections.abc import Callable, Iterator, Sequence
from types import ModuleType
from typing import Any

from rasp.values import argument_pools, is_number, mean_values

__all__ = [
    "Fn",
    "Step",
    "GeneratedProgram",
    "build",
    "generate_program",
    "generate_programs",
    "programs",
    "to_tracr",
]

_LETTERS = "abcdefg"
_MAX_TRACKED = 3_000
"""Value sets larger than this are not listed by the generator (see ``_Info``)."""

# Names visible to generated lambdas: pure builtins only, so a function can
# neither reach state nor depend on anything but its arguments.
_FN_GLOBALS: dict[str, Any] = {
    "__builtins__": {},
    "abs": abs,
    "int": int,
    "max": max,
    "min": min,
    "round": round,
    "str": str,
}


@dataclasses.dataclass(frozen=True)
class Fn:
    """A pure function given by its lambda source, e.g. ``Fn("lambda x: x % 3")``.

    The source is compiled once, against :data:`_FN_GLOBALS` (a few pure
    builtins); ``repr`` is the source, so a printed program is runnable.
    Equality, hashing and pickling go by the source.
    """

    source: str
    _fn: Callable[..., Any] = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        fn = eval(self.source, dict(_FN_GLOBALS))  # trusted: templates of this module
        if not callable(fn):
            raise TypeError(f"Fn source must define a callable, found {self.source!r}")
        object.__setattr__(self, "_fn", fn)

    def __call__(self, *args: Any) -> Any:
        return self._fn(*args)

    def __repr__(self) -> str:
        return self.source

    def __reduce__(self) -> tuple:
        return (Fn, (self.source,))


OPS = (
    "tokens",
    "indices",
    "length",
    "full",
    "constant_sop",
    "map",
    "sequence_map",
    "linear_sequence_map",
    "select",
    "selector_and",
    "selector_or",
    "selector_not",
    "aggregate",
    "selector_width",
)
"""Every operation a :class:`Step` can hold."""


@dataclasses.dataclass(frozen=True)
class Step:
    """One operation of a recipe.

    ``args`` index earlier steps.  ``fn`` is the Map / SequenceMap function or a
    callable Select predicate; ``comparison`` names a ``Comparison`` member
    instead.  ``value`` is the Full fill, the ConstantSOp values, the Aggregate
    default or the LinearSequenceMap factors ``(fst_fac, snd_fac)``.
    """

    op: str
    args: tuple[int, ...] = ()
    fn: Fn | None = None
    comparison: str | None = None
    value: Any = None
    numerical: bool = False
    name: str | None = None

    def __post_init__(self) -> None:
        if self.op not in OPS:
            raise ValueError(f"Step: unknown op {self.op!r}; expected one of {OPS}")


def build(steps: Sequence[Step], module: ModuleType | None = None) -> Any:
    """The expression of the recipe's last step, built with ``module``'s classes.

    ``module`` is ``rasp`` (the default) or any module with the same names, such as
    Tracr's ``tracr.rasp.rasp``.
    """
    if module is None:
        import rasp as module
    r = module
    built: list[Any] = []
    for step in steps:
        a = [built[i] for i in step.args]
        op = step.op
        if op == "tokens":
            expr = r.tokens
        elif op == "indices":
            expr = r.indices
        elif op == "length":
            expr = r.length
        elif op == "full":
            expr = r.Full(step.value)
        elif op == "constant_sop":
            expr = r.ConstantSOp(list(step.value), check_length=False)
        elif op == "map":
            expr = r.Map(step.fn, a[0])
        elif op == "sequence_map":
            expr = r.SequenceMap(step.fn, a[0], a[1])
        elif op == "linear_sequence_map":
            expr = r.LinearSequenceMap(a[0], a[1], *step.value)
        elif op == "select":
            predicate = step.fn if step.fn is not None else r.Comparison[step.comparison]
            expr = r.Select(a[0], a[1], predicate)
        elif op == "selector_and":
            expr = r.SelectorAnd(a[0], a[1])
        elif op == "selector_or":
            expr = r.SelectorOr(a[0], a[1])
        elif op == "selector_not":
            expr = r.SelectorNot(a[0])
        elif op == "aggregate":
            expr = r.Aggregate(a[0], a[1], default=step.value)
        else:  # selector_width
            expr = r.SelectorWidth(a[0])
        if step.numerical:
            expr = r.numerical(expr)
        if step.name is not None:
            expr = expr.named(step.name)
        built.append(expr)
    return built[-1]


@dataclasses.dataclass(frozen=True, eq=False)
class GeneratedProgram:
    """A generated program with what compiling it needs, and the recipe that built it."""

    program: Any  # rasp.SOp
    vocab: tuple
    max_seq_len: int
    seed: int
    steps: tuple[Step, ...]

    def __eq__(self, other: object) -> bool:
        """Same recipe, vocabulary and length (the program objects differ by ids)."""
        if not isinstance(other, GeneratedProgram):
            return NotImplemented
        return (self.steps, self.vocab, self.max_seq_len) == (
            other.steps,
            other.vocab,
            other.max_seq_len,
        )

    def __hash__(self) -> int:
        return hash((self.steps, self.vocab, self.max_seq_len))

    @property
    def depth(self) -> int:
        """Longest chain of SOp operations from an input to the output."""
        depths: list[int] = []
        for step in self.steps:
            below = max((depths[i] for i in step.args), default=0)
            depths.append(below + (step.op in _SOP_OPS))
        return depths[-1]

    @property
    def size(self) -> int:
        """How many SOp operations (not inputs, not selectors) the program has."""
        return sum(step.op in _SOP_OPS for step in self.steps)

    def source(self, module: str = "rasp") -> str:
        """Python source that rebuilds the program with ``module`` (``s{n}`` is the output)."""
        lines = []
        for n, step in enumerate(self.steps):
            lines.append(f"s{n} = {_step_source(step, module)}")
        return "\n".join(lines)


_SOP_OPS = frozenset({"map", "sequence_map", "linear_sequence_map", "aggregate", "selector_width"})


def _step_source(step: Step, m: str) -> str:
    a = [f"s{i}" for i in step.args]
    op = step.op
    if op in ("tokens", "indices", "length"):
        return f"{m}.{op}"
    if op == "full":
        text = f"{m}.Full({step.value!r})"
    elif op == "constant_sop":
        text = f"{m}.ConstantSOp({list(step.value)!r}, check_length=False)"
    elif op == "map":
        text = f"{m}.Map({step.fn!r}, {a[0]})"
    elif op == "sequence_map":
        text = f"{m}.SequenceMap({step.fn!r}, {a[0]}, {a[1]})"
    elif op == "linear_sequence_map":
        text = f"{m}.LinearSequenceMap({a[0]}, {a[1]}, {step.value[0]!r}, {step.value[1]!r})"
    elif op == "select":
        pred = repr(step.fn) if step.fn is not None else f"{m}.Comparison.{step.comparison}"
        text = f"{m}.Select({a[0]}, {a[1]}, {pred})"
    elif op in ("selector_and", "selector_or"):
        cls = "SelectorAnd" if op == "selector_and" else "SelectorOr"
        text = f"{m}.{cls}({a[0]}, {a[1]})"
    elif op == "selector_not":
        text = f"{m}.SelectorNot({a[0]})"
    elif op == "aggregate":
        text = f"{m}.Aggregate({a[0]}, {a[1]}, default={step.value!r})"
    else:
        text = f"{m}.SelectorWidth({a[0]})"
    if step.numerical:
        text = f"{m}.numerical({text})"
    if step.name is not None:
        text = f"{text}.named({step.name!r})"
    return text


def to_tracr(generated: GeneratedProgram) -> Any:
    """The same program built with Tracr's ``tracr.rasp.rasp`` (imports Tracr)."""
    from tracr.rasp import rasp as trasp

    return build(generated.steps, trasp)


# ---------------------------------------------------------------- value tracking


@dataclasses.dataclass(frozen=True)
class _Info:
    """What the generator knows about one SOp step: enough to pick fitting functions.

    ``values`` over-approximates the values it can take (None included when it
    may be None), or is None when that set is too large to list.
    """

    values: frozenset | None
    kind: str  # "int" (ints and bools), "float", "str", "tuple", "none" or "mixed"
    depth: int
    numerical: bool = False
    uniform: bool = False  # the same value at every position of an input

    @property
    def may_be_none(self) -> bool:
        return self.values is None or None in self.values

    @property
    def plain(self) -> list:
        """The non-None values, sorted (by repr across types)."""
        if self.values is None:
            return []
        return sorted((v for v in self.values if v is not None), key=_order)

    @property
    def numeric(self) -> bool:
        return self.kind in ("int", "float")


def _order(value: Any) -> tuple:
    if is_number(value):
        return (0, float(value), "")
    return (1, 0.0, repr(value))


def _kind(values: frozenset | None) -> str:
    if values is None:
        return "float"
    plain = [v for v in values if v is not None]
    if not plain:
        return "none"
    if all(isinstance(v, (bool, int)) for v in plain):
        return "int"
    if all(is_number(v) for v in plain):
        return "float"
    for kind, types in (("str", str), ("tuple", tuple)):
        if all(isinstance(v, types) for v in plain):
            return kind
    return "mixed"


def _apply(fn: Fn, sets: list[frozenset | None]) -> frozenset | None:
    """``fn`` over every combination of non-None inputs, None flowing through: value
    inference's rule (:func:`rasp.values.argument_pools`), bounded by ``_MAX_TRACKED``."""
    found = argument_pools(sets)
    if found is None:
        return None
    pools, may_be_none = found
    out = set()
    for args in itertools.product(*pools):
        try:
            out.add(fn(*args))
        except Exception:
            continue  # the generator never picks such functions; stay safe anyway
        if len(out) > _MAX_TRACKED:
            return None
    if may_be_none:
        out.add(None)
    return frozenset(out)


def _means(values: frozenset | None, max_seq_len: int) -> frozenset | None:
    """Every mean of 1..max_seq_len numbers drawn from ``values``, plus the default 0
    (the value inference's :func:`rasp.values.mean_values`)."""
    if values is None:
        return None
    means = mean_values([v for v in values if is_number(v)], max_seq_len, _MAX_TRACKED)
    if means is None or len(means | {0}) > _MAX_TRACKED:
        return None
    return means | {0}


# ---------------------------------------------------------------- function catalogues


def _pick_value(rng: random.Random, info: _Info, fallback: Sequence[Any]) -> Any:
    plain = info.plain
    return rng.choice(plain) if plain else rng.choice(list(fallback))


def _unary_source(rng: random.Random, info: _Info, numeric_out: bool) -> str:
    """A one-argument lambda that suits ``info``'s values (numbers out if asked)."""
    kind = info.kind
    if kind in ("int", "float"):
        c = _pick_value(rng, info, (0, 1, 2))
        if numeric_out:
            a, b = rng.choice((1, 2, -1, 3)), rng.choice((0, 1, -1))
            options = [
                f"lambda x: {a} * x + {b}",
                "lambda x: x * x",
                f"lambda x: abs(x - {c!r})",
                f"lambda x: min(x, {c!r})",
                f"lambda x: 1 if x > {c!r} else 0",
                "lambda x: x / 2",
            ]
        elif kind == "int":
            top = max(info.plain, default=0)
            a, b, m = rng.choice((1, 2, 3)), rng.randrange(3), rng.choice((2, 3, 4))
            word = "".join(rng.sample(_LETTERS, rng.choice((2, 3))))
            options = [
                f"lambda x: ({a} * x + {b}) % {m}",
                f"lambda x: min(x, {c!r})",
                f"lambda x: max(x, {c!r})",
                f"lambda x: x > {c!r}",
                f"lambda x: x < {c!r}",
                f"lambda x: x == {c!r}",
                "lambda x: x % 2 == 0",
                "lambda x: x // 2",
                f"lambda x: abs(x - {c!r})",
                "lambda x: x + 1",
                "lambda x: x - 1",
                f"lambda x: {word!r}[x % {len(word)}]",
                f"lambda x: x if x != {c!r} else None",  # None without an Aggregate
                f"lambda x: 6 // (x - {top!r}) if x != {top!r} else 0",  # guarded, as a
                # careful user writes it (the unguarded one is the ``raises`` bait)
            ]
        else:
            options = [
                f"lambda x: x > {c!r}",
                f"lambda x: x <= {c!r}",
                "lambda x: round(2 * x)",
                "lambda x: int(x)",
                f"lambda x: min(x, {c!r})",
                f"lambda x: 0 if x < {c!r} else 1",
            ]
        return rng.choice(options)
    if kind == "str":
        s = _pick_value(rng, info, _LETTERS[:3])
        plain = info.plain or list(_LETTERS[:3])
        if numeric_out:
            table = {v: rng.randrange(3) for v in plain}
            return rng.choice(
                [f"lambda x: 1 if x == {s!r} else 0", f"lambda x: {table!r}.get(x, 0)"]
            )
        t = rng.choice(_LETTERS)
        table_s = {v: rng.choice(_LETTERS[:3]) for v in plain}
        table_i = {v: rng.randrange(3) for v in plain}
        return rng.choice(
            [
                f"lambda x: x == {s!r}",
                f"lambda x: x < {s!r}",
                f"lambda x: x != {s!r}",
                f"lambda x: {table_i!r}.get(x, 0)",
                f"lambda x: {table_s!r}.get(x, 'z')",
                f"lambda x: x if x != {s!r} else {t!r}",
            ]
        )
    if kind == "tuple":
        if numeric_out:
            return "lambda x: 1 if x[0] == x[1] else 0"
        return rng.choice(["lambda x: x[0]", "lambda x: x[1]", "lambda x: x[0] == x[1]"])
    v = _pick_value(rng, info, (0,))
    if numeric_out:
        return f"lambda x: 1 if x == {v!r} else 0"
    return rng.choice([f"lambda x: x == {v!r}", "lambda x: str(x)"])


def _binary_source(rng: random.Random, x: _Info, y: _Info, numeric_out: bool) -> str:
    """A two-argument lambda that suits both inputs."""
    if x.numeric and y.numeric:
        if numeric_out:
            a = rng.choice((1, 2, -1))
            return rng.choice(
                ["lambda x, y: x + y", "lambda x, y: x - y", "lambda x, y: x * y",
                 "lambda x, y: max(x, y)", f"lambda x, y: {a} * x + y"]
            )  # fmt: skip
        options = [
            "lambda x, y: x == y",
            "lambda x, y: x < y",
            "lambda x, y: max(x, y)",
            "lambda x, y: min(x, y)",
            "lambda x, y: x - y",
            "lambda x, y: x + y",
            "lambda x, y: (x, y)",
        ]
        if x.kind == "int" and y.kind == "int":
            m = rng.choice((2, 3, 4))
            options += [f"lambda x, y: (x + y) % {m}", f"lambda x, y: (x * y) % {m}"]
        return rng.choice(options)
    if numeric_out:
        v = _pick_value(rng, x, (0,))
        return f"lambda x, y: 1 if x == {v!r} and y == y else 0"
    if x.kind == "str" and y.kind == "str":
        s = rng.choice(_LETTERS[:3])
        return rng.choice(
            ["lambda x, y: x == y", "lambda x, y: x < y", "lambda x, y: x + y",
             "lambda x, y: min(x, y)", f"lambda x, y: x if x == y else {s!r}",
             "lambda x, y: (x, y)"]
        )  # fmt: skip
    if x.kind == "str" and y.numeric:
        c = _pick_value(rng, y, (0,))
        s = rng.choice(_LETTERS[:3])
        return rng.choice([f"lambda x, y: x if y > {c!r} else {s!r}", "lambda x, y: (x, y)"])
    if x.numeric and y.kind == "str":
        s = _pick_value(rng, y, _LETTERS[:3])
        return rng.choice([f"lambda x, y: x if y == {s!r} else 0", "lambda x, y: (x, y)"])
    return rng.choice(["lambda x, y: (x, y)", "lambda x, y: x == y"])


_ORDERED = ("LT", "LEQ", "GT", "GEQ")


def _predicate(rng: random.Random, keys: _Info, queries: _Info) -> tuple[str | None, Fn | None]:
    """A Comparison name or a callable predicate that suits the keys and queries."""
    comparable = (keys.numeric and queries.numeric) or (keys.kind == queries.kind == "str")
    if rng.random() < 0.65:
        names = ["EQ", "EQ", "NEQ", "TRUE", "FALSE"] + (list(_ORDERED) * 2 if comparable else [])
        return rng.choice(names), None
    kv = _pick_value(rng, keys, (0,))
    qv = _pick_value(rng, queries, (0,))
    options = [
        "lambda k, q: k == q",
        f"lambda k, q: k != {kv!r}",
        f"lambda k, q: q == {qv!r}",
        f"lambda k, q: k == {kv!r} or q == {qv!r}",
    ]
    if keys.kind == "int" and queries.kind == "int":
        c, m = rng.choice((-1, 1, 2)), rng.choice((2, 3))
        options += [
            f"lambda k, q: k == q + {c}",
            f"lambda k, q: (k + q) % {m} == {rng.randrange(m)}",
            "lambda k, q: abs(k - q) <= 1",
            f"lambda k, q: k < q or k == {kv!r}",
            "lambda k, q: k % 2 == q % 2",
        ]
    elif keys.kind == queries.kind == "str":
        options += [f"lambda k, q: k == q or k == {kv!r}", f"lambda k, q: (k < q) != (q == {qv!r})"]
    return None, Fn(rng.choice(options))


def _pointer(rng: random.Random) -> tuple[str | None, Fn | None]:
    """A predicate over (indices, int query) that selects at most one key."""
    c, m = rng.choice((-1, 1, 2)), rng.choice((2, 3))
    options = [
        f"lambda k, q: k == q + {c}",
        f"lambda k, q: k == (q + {c}) % {m}",
        "lambda k, q: k == 2 * q",
        f"lambda k, q: k == {rng.randrange(3)}",
    ]
    return (None, Fn(rng.choice(options))) if rng.random() < 0.4 else ("EQ", None)


# ---------------------------------------------------------------- the generator


_BAITS = (
    "numerical_of_strings",
    "numerical_keys",
    "numerical_none",
    "type_twins",
    "raises",
    "unencodable",
)
"""Documented compiler rules a refusal-bait program breaks (one each): ``raises`` is a
function that fails on one input value, ``unencodable`` one that returns a list."""

_LOOKALIKE = 0.08
"""Chance that a named node gets a name that looks like one the compiler uses itself
(``{other}_selected_any``, ``one``, ``tokens``) or repeats an earlier name."""


class _Generator:
    """Draws one recipe; every choice comes from ``rng``."""

    def __init__(
        self, rng: random.Random, vocab: tuple, max_seq_len: int, depth: int, named: float
    ):
        self.rng = rng
        self.vocab = vocab
        self.max_seq_len = max_seq_len
        self.max_depth = depth
        self.named = named
        self.steps: list[Step] = []
        self.infos: list[_Info | None] = []  # None for selectors
        self.groups: list[tuple[int, int] | None] = []  # selectors: (keys, queries) or None
        self.uses: list[int] = []

    # -- recording

    def add(self, step: Step, info: _Info | None, group: tuple[int, int] | None = None) -> int:
        if step.name is None and step.op in _SOP_OPS and self.rng.random() < self.named:
            step = dataclasses.replace(step, name=self.draw_name(step))
        for i in step.args:
            self.uses[i] += 1
        self.steps.append(step)
        self.infos.append(info)
        self.groups.append(group)
        self.uses.append(0)
        return len(self.steps) - 1

    def draw_name(self, step: Step) -> str:
        """``v{i}_{op}``, or now and then a name that mimics a compiler-internal one or
        repeats an earlier name (names are for people; labels must stay distinct)."""
        plain = f"v{len(self.steps)}_{step.op}"
        if self.rng.random() >= _LOOKALIKE:
            return plain
        earlier = [s.name for s in self.steps if s.name is not None]
        options = ["one", "tokens", "indices", *(f"{n}_selected_any" for n in earlier), *earlier]
        return self.rng.choice(options)

    def info(self, i: int) -> _Info:
        info = self.infos[i]
        if info is None:
            raise ValueError(f"step {i} is a selector, not an SOp")
        return info

    def sop_info(self, values: frozenset | None, depth: int, **kw: Any) -> _Info:
        return _Info(values, _kind(values), depth, **kw)

    # -- choosing inputs

    def pick(self, ok: Callable[[_Info], bool] = lambda i: True) -> int | None:
        """An SOp step below the depth limit that passes ``ok``; recent and unused ones
        are likelier, so most steps end up in the program."""
        found = [
            (i, info)
            for i, info in enumerate(self.infos)
            if info is not None and info.depth < self.max_depth and ok(info)
        ]
        if not found:
            return None
        n = len(self.steps)
        weights = [(1 + 3 * (self.uses[i] == 0)) * (1 + 2 * i / n) for i, _ in found]
        return self.rng.choices([i for i, _ in found], weights)[0]

    def categorical(self, i: _Info) -> bool:
        return not i.numerical and i.values is not None

    def depth_of(self, *args: int) -> int:
        return max((self.infos[a].depth if self.infos[a] else self.sel_depth(a)) for a in args)

    def sel_depth(self, i: int) -> int:
        return max(self.depth_of(a) for a in self.steps[i].args)

    # -- leaves

    def leaves(self) -> None:
        rng, n = self.rng, self.max_seq_len
        self.add(Step("tokens"), self.sop_info(frozenset(self.vocab), 0))
        self.add(Step("indices"), self.sop_info(frozenset(range(n)), 0))
        if rng.random() < 0.4:
            self.add(Step("length"), self.sop_info(frozenset(range(1, n + 1)), 0, uniform=True))
        if rng.random() < 0.25:
            fill = rng.choice([*self.vocab, 0, 1, 2])
            numerical = isinstance(fill, int) and rng.random() < 0.3
            info = self.sop_info(frozenset([fill]), 0, numerical=numerical, uniform=True)
            self.add(Step("full", value=fill, numerical=numerical), info)
        if rng.random() < 0.03:
            values = tuple(rng.choice(self.vocab) for _ in range(n))
            self.add(Step("constant_sop", value=values), self.sop_info(frozenset(values), 0))

    # -- operations

    def op_map(self, bait: str | None = None) -> int | None:
        rng = self.rng
        if bait == "type_twins":  # str() of a mean tells 1 (one key) from 1.0 (several)
            x = self.pick(lambda i: i.numerical and i.numeric and i.values is not None)
            if x is None:
                return None
            return self.map_step(x, Fn("lambda x: str(x)"), numerical=False)
        if bait in ("raises", "unencodable"):
            x = self.pick(lambda i: i.kind == "int" and bool(i.plain) and not i.numerical)
            if x is None:
                return None
            top = max(self.info(x).plain)
            source = f"lambda x: 6 // (x - {top!r})" if bait == "raises" else "lambda x: [x]"
            step = Step("map", (x,), fn=Fn(source))
            return self.add(step, self.sop_info(None, self.info(x).depth + 1))
        if bait == "numerical_none":
            x = self.pick(lambda i: i.may_be_none and i.values is not None)
            if x is None:
                return None
            fn = Fn(_unary_source(rng, self.info(x), numeric_out=True))
            return self.map_step(x, fn, numerical=True)
        x = self.pick(lambda i: i.values is not None and (i.numeric or not i.numerical))
        if x is None:
            return None
        info = self.info(x)
        want_numeric = info.numeric and not info.may_be_none and rng.random() < 0.35
        fn = Fn(_unary_source(rng, info, numeric_out=want_numeric))
        return self.map_step(x, fn, numerical=want_numeric)

    def map_step(self, x: int, fn: Fn, numerical: bool) -> int:
        info = self.info(x)
        values = _apply(fn, [info.values])
        out = self.sop_info(values, info.depth + 1, numerical=numerical, uniform=info.uniform)
        return self.add(Step("map", (x,), fn=fn, numerical=numerical), out)

    def op_sequence_map(self) -> int | None:
        rng = self.rng
        x = self.pick(lambda i: i.values is not None and (i.numeric or not i.numerical))
        y = self.pick(lambda i: i.values is not None and (i.numeric or not i.numerical))
        if x is None or y is None:
            return None
        xi, yi = self.info(x), self.info(y)
        numeric_ok = xi.numeric and yi.numeric and not (xi.may_be_none or yi.may_be_none)
        numerical = numeric_ok and rng.random() < 0.3
        fn = Fn(_binary_source(rng, xi, yi, numeric_out=numerical))
        values = _apply(fn, [xi.values, yi.values])
        if values is not None and len(values) > 60:
            return None  # keep value sets small, as a user would
        depth = max(xi.depth, yi.depth) + 1
        info = self.sop_info(values, depth, numerical=numerical, uniform=xi.uniform and yi.uniform)
        return self.add(Step("sequence_map", (x, y), fn=fn, numerical=numerical), info)

    def op_linear(self) -> int | None:
        rng = self.rng

        def ok(i: _Info) -> bool:
            return i.numeric and not i.may_be_none

        x, y = self.pick(ok), self.pick(ok)
        if x is None or y is None:
            return None
        a, b = rng.choice((1, -1, 2, 0.5)), rng.choice((1, -1, 3, -2))
        xi, yi = self.info(x), self.info(y)
        values = _apply(Fn(f"lambda x, y: {a!r} * x + {b!r} * y"), [xi.values, yi.values])
        numerical = rng.random() < 0.75
        info = self.sop_info(values, max(xi.depth, yi.depth) + 1, numerical=numerical)
        return self.add(
            Step("linear_sequence_map", (x, y), value=(a, b), numerical=numerical), info
        )

    def select(self, keys: int, queries: int, comparison: str | None, fn: Fn | None) -> int:
        step = Step("select", (keys, queries), fn=fn, comparison=comparison)
        return self.add(step, None, group=(keys, queries))

    def leaf_selector(self, bait: str | None = None) -> int | None:
        if bait == "numerical_keys":
            keys = self.pick(lambda i: i.numerical)
        else:
            keys = self.pick(self.categorical)
        queries = self.pick(self.categorical)
        if keys is None or queries is None:
            return None
        comparison, fn = _predicate(self.rng, self.info(keys), self.info(queries))
        return self.select(keys, queries, comparison, fn)

    def same_group(self, sel: int) -> int:
        """Another Select over the same keys and queries as selector ``sel``."""
        group = self.groups[sel]
        if group is None:
            return sel
        keys, queries = group
        comparison, fn = _predicate(self.rng, self.info(keys), self.info(queries))
        return self.select(keys, queries, comparison, fn)

    def selector(self, bait: str | None = None) -> int | None:
        """A Select, or a formula of Selects: And / Or / Not over one keys/queries pair,
        sometimes And-ed with a formula over another pair, sometimes (10%) combined by
        | or ~ with a Select over another pair (raspc pairs the SOps)."""
        rng = self.rng
        reusable = [i for i, g in enumerate(self.groups) if g is not None]
        if reusable and rng.random() < 0.15 and bait is None:
            return rng.choice(reusable)
        first = self.leaf_selector(bait if bait == "numerical_keys" else None)
        if first is None:
            return None
        sel = first if rng.random() < 0.65 else self.formula(first, rng.randint(1, 2))
        if rng.random() < 0.15:
            other = self.leaf_selector()
            if other is not None:
                other = self.formula(other, rng.randint(0, 1))
                sel = self.combine("selector_and", sel, other)
        if rng.random() < 0.1:
            other = self.leaf_selector()
            if other is not None and self.groups[other] != self.groups[first]:
                if rng.random() < 0.7:
                    sel = self.combine("selector_or", sel, other)
                else:
                    sel = self.combine("selector_not", self.combine("selector_and", sel, other))
        return sel

    def formula(self, first: int, steps: int) -> int:
        """``steps`` random And / Or / Not steps over Selects of ``first``'s keys/queries
        pair, starting from ``first``."""
        node = first
        for _ in range(steps):
            roll = self.rng.random()
            if roll < 0.3:
                node = self.combine("selector_not", node)
            elif roll < 0.65:
                node = self.combine("selector_or", node, self.same_group(first))
            else:
                node = self.combine("selector_and", self.same_group(first), node)
        return node

    def combine(self, op: str, *args: int) -> int:
        groups = {self.groups[a] for a in args}
        group = groups.pop() if len(groups) == 1 else None
        return self.add(Step(op, args), None, group=group)

    def op_categorical_aggregate(self) -> int | None:
        rng = self.rng
        roll = rng.random()
        if roll < 0.45:  # one key: a pointer into the positions
            q = self.pick(lambda i: self.categorical(i) and i.kind == "int")
            sel = None
            if q is not None:
                comparison, fn = _pointer(rng)
                sel = self.select(1, q, comparison, fn)  # step 1 is always indices
                if rng.random() < 0.2:
                    other = self.selector()
                    if other is not None:
                        sel = self.combine("selector_and", sel, other)
            sop = self.pick(self.categorical)
        elif roll < 0.7:  # keys that share the aggregated value
            sop = self.pick(self.categorical)
            q = self.pick(self.categorical)
            sel = None if sop is None or q is None else self.select(sop, q, "EQ", None)
        elif roll < 0.8:  # a value that is the same at every position
            sop = self.pick(lambda i: self.categorical(i) and i.uniform)
            sel = self.selector()
        else:  # anything: some inputs fall outside the program's domain
            sop = self.pick(self.categorical)
            sel = self.selector()
        if sop is None or sel is None:
            return None
        info = self.info(sop)
        default = None
        if rng.random() < 0.15:  # a default where no key is selected
            scalars = (v for v in info.values if isinstance(v, (str, int, float)))
            default = rng.choice(sorted(scalars, key=repr) or [0])  # defaults are scalars
        values = info.values | {default}
        depth = max(info.depth, self.depth_of(sel)) + 1
        out = self.sop_info(values, depth)
        return self.add(Step("aggregate", (sel, sop), value=default), out)

    def op_numerical_aggregate(self, bait: str | None = None) -> int | None:
        if bait == "numerical_of_strings":
            sop = self.pick(lambda i: i.kind in ("str", "none") or i.may_be_none)
        else:
            sop = self.pick(lambda i: i.numeric and not i.may_be_none)
        if sop is None:
            if bait is not None:
                return None
            text = _unary_source(self.rng, self.info(0), numeric_out=True)
            sop = self.map_step(0, Fn(text), numerical=True)  # 0 is tokens
        sel = self.selector()
        if sel is None:
            return None
        info = self.info(sop)
        values = _means(info.values, self.max_seq_len)
        depth = max(info.depth, self.depth_of(sel)) + 1
        out = self.sop_info(values, depth, numerical=True)
        return self.add(Step("aggregate", (sel, sop), value=0, numerical=True), out)

    def op_selector_width(self) -> int | None:
        sel = self.selector()
        if sel is None:
            return None
        numerical = self.rng.random() < 0.2
        values = frozenset(range(self.max_seq_len + 1))
        out = self.sop_info(values, self.depth_of(sel) + 1, numerical=numerical)
        return self.add(Step("selector_width", (sel,), numerical=numerical), out)

    def read_tokens(self, last: int) -> int:
        """One more step that combines ``last`` with the tokens (Tracr, like most users,
        wants programs that read their input)."""
        info, tokens = self.info(last), self.info(0)
        depth = info.depth + 1
        if info.numerical:  # a mean of it over positions holding related tokens
            comparison, fn = _predicate(self.rng, tokens, tokens)
            sel = self.select(0, 0, comparison, fn)
            out = self.sop_info(_means(info.values, self.max_seq_len), depth, numerical=True)
            return self.add(Step("aggregate", (sel, last), value=0, numerical=True), out)
        fn = Fn(_binary_source(self.rng, info, tokens, numeric_out=False))
        out = self.sop_info(_apply(fn, [info.values, tokens.values]), depth)
        return self.add(Step("sequence_map", (last, 0), fn=fn), out)

    def operation(self, bait: str | None) -> int | None:
        if bait is not None:
            if bait == "numerical_keys":
                sel = self.selector(bait)
                if sel is None:
                    return None
                out = self.sop_info(frozenset(range(self.max_seq_len + 1)), 1)
                return self.add(Step("selector_width", (sel,)), out)
            if bait == "numerical_of_strings":
                return self.op_numerical_aggregate(bait)
            return self.op_map(bait)
        ops = (
            (self.op_map, 0.27),
            (self.op_sequence_map, 0.15),
            (self.op_linear, 0.04),
            (self.op_categorical_aggregate, 0.22),
            (self.op_numerical_aggregate, 0.16),
            (self.op_selector_width, 0.16),
        )
        fn = self.rng.choices([f for f, _ in ops], [w for _, w in ops])[0]
        return fn()


def _prune_indices(steps: list[Step]) -> set[int]:
    """The indices of the steps the last one depends on (itself included)."""
    needed = {len(steps) - 1}
    for i in range(len(steps) - 1, -1, -1):
        if i in needed:
            needed.update(steps[i].args)
    return needed


def _prune(steps: list[Step]) -> tuple[Step, ...]:
    """The steps the last one depends on, re-indexed, in order."""
    needed = _prune_indices(steps)
    new_index: dict[int, int] = {}
    out: list[Step] = []
    for i, step in enumerate(steps):
        if i in needed:
            new_index[i] = len(out)
            args = tuple(new_index[a] for a in step.args)
            out.append(dataclasses.replace(step, args=args))
    return tuple(out)


def _draw(rng: random.Random, spec: int | tuple[int, int] | None, default: tuple[int, int]) -> int:
    if spec is None:
        spec = default
    if isinstance(spec, tuple):
        return rng.randint(*spec)
    return spec


def generate_program(
    seed: int,
    *,
    depth: int,
    size: int,
    vocab: Sequence[Any] | None = None,
    vocab_size: int | tuple[int, int] | None = None,
    max_seq_len: int | tuple[int, int] | None = None,
    named: float = 0.3,
    refusal_rate: float = 0.05,
) -> GeneratedProgram:
    """A random program of ``size`` operations nested at most ``depth`` deep.

    ``vocab`` defaults to ``vocab_size`` (an int or an inclusive range; default 2-4)
    random small ints or letters; ``max_seq_len`` is an int or a range (default
    3-5).  ``named`` is the chance that an operation gets a name; ``refusal_rate``
    the chance that the program breaks one compiler rule on purpose.  The same
    arguments give the same program.
    """
    if depth < 1 or size < 1:
        raise ValueError(f"generate_program: depth and size must be >= 1, found {depth}, {size}")
    rng = random.Random(seed)
    n = _draw(rng, max_seq_len, (3, 5))
    if vocab is None:
        k = _draw(rng, vocab_size, (2, 4))
        roll = rng.random()
        if roll < 0.45:
            vocab = rng.sample(range(7), k)
        elif roll < 0.85:
            vocab = rng.sample(_LETTERS[:5], k)
        elif roll < 0.9:  # floats, as --vocab '[0.5, 1.5]' gives them
            vocab = rng.sample((0.5, 1.5, 2.25, -1.0, 3.0), k)
        else:  # ints and letters together
            vocab = [*rng.sample(range(4), k - k // 2), *rng.sample(_LETTERS[:3], k // 2)]
    vocab_t = tuple(sorted(set(vocab), key=_order))
    gen = _Generator(rng, vocab_t, n, depth, named)
    gen.leaves()
    bait_at = rng.randrange(size) if rng.random() < refusal_rate else -1
    bait = rng.choice(_BAITS)
    made = 0
    last: int | None = None
    for attempt in range(size * 8):
        if made == size:
            break
        step = gen.operation(bait if made == bait_at else None)
        if step is None:
            if made == bait_at and attempt > 4 * size:
                bait_at = -1  # that bait does not fit this program; carry on without it
            continue
        made += 1
        last = step
    if last is None:  # nothing fitted: fall back on a plain Map of the tokens
        fn = Fn(_unary_source(rng, gen.info(0), numeric_out=False))
        last = gen.map_step(0, fn, numerical=False)
    if 0 not in _prune_indices(gen.steps[: last + 1]):
        last = gen.read_tokens(last)  # a program should depend on its input
    steps = _prune(gen.steps[: last + 1])
    program = build(steps)
    return GeneratedProgram(program, vocab_t, n, seed, steps)


def generate_programs(
    count: int,
    seed: int = 0,
    *,
    depth: int | tuple[int, int] = (1, 4),
    size: int | tuple[int, int] = (1, 6),
    **options: Any,
) -> Iterator[GeneratedProgram]:
    """``count`` programs, program ``i`` from seed ``seed * 1_000_003 + i`` with its depth
    and size drawn (reproducibly) from the given ranges; ``options`` go to
    :func:`generate_program`.  A benchmark set is ``list(generate_programs(100))``."""
    for i in range(count):
        program_seed = seed * 1_000_003 + i
        rng = random.Random(f"shape-{program_seed}")
        d = _draw(rng, depth, (1, 4))
        s = _draw(rng, size, (1, 6))
        yield generate_program(program_seed, depth=d, size=s, **options)


def programs(
    *,
    depth: tuple[int, int] = (1, 4),
    size: tuple[int, int] = (1, 6),
    **options: Any,
) -> Any:
    """A hypothesis strategy of :class:`GeneratedProgram` (imports hypothesis).

    It draws a seed, a depth and a size, so hypothesis shrinks a failure towards
    shallower, smaller programs.  ``options`` go to :func:`generate_program`.
    """
    from hypothesis import strategies as st

    return st.builds(
        lambda seed, d, s: generate_program(seed, depth=d, size=s, **options),
        st.integers(0, 2**32 - 1),
        st.integers(*depth),
        st.integers(*size),
    )
