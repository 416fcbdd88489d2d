"""The RASP language: building expressions, labels, annotations, immutability, type errors.

What programs *compute* is tested in test_evaluator.py; this file is about
what users build and the errors they get while building.
"""

from __future__ import annotations

import pytest

import rasp
from rasp import errors

T, IX = rasp.tokens, rasp.indices
EQ = rasp.Comparison.EQ


def some_select() -> rasp.Select:
    return rasp.Select(T, T, EQ)


def every_kind_of_expression() -> list[rasp.RASPExpr]:
    sel = some_select()
    return [
        rasp.Map(lambda x: x, T),
        rasp.SequenceMap(lambda x, y: x, T, IX),
        rasp.LinearSequenceMap(T, IX, 1, 2),
        rasp.Full(1),
        rasp.ConstantSOp([1, 2]),
        sel,
        rasp.ConstantSelector([[True]]),
        rasp.SelectorAnd(sel, sel),
        rasp.SelectorOr(sel, sel),
        rasp.SelectorNot(sel),
        rasp.Aggregate(sel, T),
        rasp.SelectorWidth(sel),
    ]


# ---------------------------------------------------------------- the error hierarchy


def test_error_hierarchy_matches_builtins():
    assert issubclass(rasp.RaspcTypeError, TypeError)
    assert issubclass(rasp.RaspcTypeError, rasp.RaspcError)
    assert issubclass(rasp.RaspcValueError, ValueError)
    assert issubclass(rasp.EvaluationError, ValueError)
    assert issubclass(rasp.EvaluationError, rasp.RaspcError)
    assert issubclass(rasp.CompileError, ValueError)
    assert issubclass(rasp.UnsupportedProgramError, rasp.CompileError)


def test_compile_error_lists_every_problem():
    err = rasp.CompileError([("a", "too big"), ("b", "too small")])
    assert err.problems == (("a", "too big"), ("b", "too small"))
    assert "2 problems" in str(err) and "- a: too big" in str(err)
    one = rasp.UnsupportedProgramError([("x", "why")])
    assert "1 problem)" in str(one)
    assert errors.Problem is not None


# ---------------------------------------------------------------- primitives


def test_primitives_have_fixed_labels():
    assert (T.label, IX.label, rasp.length.label) == ("tokens", "indices", "length")
    assert isinstance(T, rasp.TokensType) and isinstance(IX, rasp.IndicesType)
    assert isinstance(rasp.length, rasp.LengthType)
    assert T.children == IX.children == rasp.length.children == ()


@pytest.mark.parametrize("primitive", [rasp.tokens, rasp.indices, rasp.length])
def test_primitives_cannot_be_renamed(primitive):
    with pytest.raises(rasp.RaspcValueError, match="cannot be renamed"):
        primitive.named("x")
    with pytest.raises(ValueError):
        primitive.annotated(name="y")


def test_primitive_encoding_copies_keep_the_primitive_label():
    num = rasp.numerical(T)
    assert isinstance(num, rasp.TokensType) and num.label == "tokens"
    assert rasp.is_numerical(num) and rasp.is_categorical(T)
    assert num.unique_id != T.unique_id


# ---------------------------------------------------------------- labels and names


def test_unnamed_labels_are_kind_and_unique_id():
    m = rasp.Map(lambda x: x, T)
    assert m.name is None
    assert m.label == f"map_{m.unique_id}"
    assert rasp.SelectorWidth(some_select()).label.startswith("selector_width_")
    assert rasp.LinearSequenceMap(T, IX, 1, 1).label.startswith("linear_sequence_map_")


def test_labels_are_unique_across_kinds():
    exprs = every_kind_of_expression()
    labels = [e.label for e in exprs]
    assert len(set(labels)) == len(labels)
    assert len({e.unique_id for e in exprs}) == len(exprs)


def test_copies_get_fresh_labels_and_ids():
    m = rasp.Map(lambda x: x + 1, T)
    copies = [rasp.numerical(m), rasp.categorical(m), m.annotated(color="red"), m.annotated()]
    labels = {m.label} | {c.label for c in copies}
    assert len(labels) == 1 + len(copies)
    assert len({m.unique_id} | {c.unique_id for c in copies}) == 1 + len(copies)


def test_named_copy_leaves_the_original_alone():
    m = rasp.Map(lambda x: x + 1, T)
    n = m.named("plus_one")
    assert (n.label, n.name) == ("plus_one", "plus_one")
    assert m.name is None and m.label.startswith("map_")
    assert n.f is m.f and n.inner is m.inner
    assert rasp.numerical(n).label == "plus_one"  # names survive annotation copies
    assert rasp.annotate(n, name="other").label == "other"


def test_annotations_merge_and_later_keys_win():
    m = rasp.Map(lambda x: x, T).annotated(a=1, b=2)
    m2 = m.annotated(b=3, c=4)
    assert dict(m2.annotations) == {"a": 1, "b": 3, "c": 4}
    assert dict(m.annotations) == {"a": 1, "b": 2}


@pytest.mark.parametrize("bad", ["", 3, None])
def test_bad_names_are_type_errors(bad):
    with pytest.raises(rasp.RaspcTypeError, match="non-empty string"):
        rasp.Map(lambda x: x, T).named(bad)


def test_name_with_colon_is_refused():
    with pytest.raises(rasp.RaspcValueError, match="':'"):
        rasp.Map(lambda x: x, T).named("a:b")


def test_repr_shows_type_and_label():
    assert repr(rasp.Map(lambda x: x, T).named("m")) == "Map(m)"
    assert repr(T) == "TokensType(tokens)"


# ---------------------------------------------------------------- encodings


def test_encodings_default_and_switch():
    m = rasp.Map(lambda x: x, T)
    assert rasp.get_encoding(m) is rasp.Encoding.CATEGORICAL
    num = rasp.numerical(m)
    assert rasp.get_encoding(num) is rasp.Encoding.NUMERICAL
    assert rasp.is_numerical(num) and not rasp.is_categorical(num)
    back = rasp.categorical(num)
    assert rasp.is_categorical(back)
    assert type(num) is rasp.Map and num.f is m.f


def test_encoding_annotation_must_be_an_encoding():
    with pytest.raises(rasp.RaspcTypeError, match=r"rasp\.Encoding"):
        rasp.Map(lambda x: x, T).annotated(encoding="numerical")


@pytest.mark.parametrize("fn", [rasp.numerical, rasp.categorical, rasp.get_encoding])
def test_encodings_are_for_sops_only(fn):
    with pytest.raises(rasp.RaspcTypeError, match="SOp"):
        fn(some_select())
    with pytest.raises(TypeError):
        fn(3)


def test_is_numerical_rejects_non_sops():
    with pytest.raises(rasp.RaspcTypeError):
        rasp.is_numerical("tokens")


# ---------------------------------------------------------------- immutability


@pytest.mark.parametrize("expr", every_kind_of_expression(), ids=lambda e: type(e).__name__)
def test_every_expression_is_immutable(expr):
    for attribute in ["label", "name", "children", "f", "inner", "keys", "_id", "new_field"]:
        with pytest.raises(AttributeError, match="immutable"):
            setattr(expr, attribute, None)


def test_immutability_message_names_the_label():
    with pytest.raises(AttributeError, match="'fred'"):
        rasp.Map(lambda x: x, T).named("fred").f = None


def test_annotations_are_read_only():
    m = rasp.Map(lambda x: x, T).named("m")
    with pytest.raises(TypeError):
        m.annotations["name"] = "other"  # type: ignore[index]


def test_primitives_are_immutable():
    with pytest.raises(AttributeError):
        rasp.tokens.foo = 1


def test_sops_stay_hashable_despite_eq_operator():
    m = rasp.Map(lambda x: x, T)
    assert {m: 1}[m] == 1
    assert isinstance(m == 1, rasp.SOp)
    assert len({T, IX, rasp.length, m, some_select()}) == 5


# ---------------------------------------------------------------- structure


def test_children_are_in_a_fixed_order():
    sel = rasp.Select(T, IX, EQ)
    other = rasp.Select(IX, T, EQ)
    assert rasp.Map(lambda x: x, T).children == (T,)
    assert rasp.SequenceMap(lambda x, y: x, IX, T).children == (IX, T)
    assert sel.children == (T, IX)
    assert rasp.SelectorAnd(sel, other).children == (sel, other)
    assert rasp.SelectorOr(other, sel).children == (other, sel)
    assert rasp.SelectorNot(sel).children == (sel,)
    agg = rasp.Aggregate(sel, IX)
    assert agg.children == (sel, IX)
    assert rasp.SelectorWidth(sel).children == (sel,)
    assert rasp.Full(3).children == () and rasp.ConstantSOp([1]).children == ()


def test_postorder_lists_each_node_once_children_first():
    shared = rasp.Map(lambda x: x + 1, T)
    top = rasp.SequenceMap(lambda a, b: a + b, shared, rasp.Map(lambda x: x * 2, shared))
    order = rasp.postorder(top)
    assert order[-1] is top
    assert [n.unique_id for n in order].count(shared.unique_id) == 1
    position = {n.unique_id: k for k, n in enumerate(order)}
    for node in order:
        for child in node.children:
            assert position[child.unique_id] < position[node.unique_id]


def test_postorder_handles_very_deep_programs():
    sop = T
    for _ in range(5000):
        sop = rasp.Map(lambda x: x, sop, simplify=False)
    assert len(rasp.postorder(sop)) == 5001


def test_map_fuses_unnamed_inner_maps_only():
    inner = rasp.Map(lambda x: x + 1, T)
    fused = rasp.Map(lambda x: x * 2, inner)
    assert fused.inner is T and fused.f(3) == 8
    assert rasp.Map(lambda x: x * 2, inner, simplify=False).inner is inner
    named = inner.named("keep")
    assert rasp.Map(lambda x: x * 2, named).inner is named
    assert rasp.Map(lambda x: x, rasp.numerical(inner)).inner is T  # encoding copies fuse too


def test_linear_sequence_map_records_its_factors():
    lsm = rasp.LinearSequenceMap(T, IX, 2, -0.5)
    assert (lsm.fst_fac, lsm.snd_fac) == (2, -0.5)
    assert isinstance(lsm, rasp.SequenceMap)
    assert lsm.f(4, 2) == 7


@pytest.mark.parametrize("fac", ["2", None, True, [1]])
def test_linear_sequence_map_factors_must_be_numbers(fac):
    with pytest.raises(rasp.RaspcTypeError, match="must be a number"):
        rasp.LinearSequenceMap(T, IX, fac, 1)
    with pytest.raises(TypeError):
        rasp.LinearSequenceMap(T, IX, 1, fac)


def test_constant_sop_stores_a_tuple():
    c = rasp.ConstantSOp([1, 2, 3], check_length=False)
    assert c.value == (1, 2, 3) and c.check_length is False
    with pytest.raises(rasp.RaspcTypeError, match="sequence"):
        rasp.ConstantSOp("abc")
    with pytest.raises(TypeError):
        rasp.ConstantSOp(5)


def test_constant_selector_stores_booleans():
    assert rasp.ConstantSelector([[1, 0], [0, 1]]).value == ((True, False), (False, True))


# ---------------------------------------------------------------- operators


@pytest.mark.parametrize(
    ("build", "kind"),
    [
        (lambda: T + 1, rasp.Map),
        (lambda: 1 + T, rasp.Map),
        (lambda: T - 1, rasp.Map),
        (lambda: 1 - T, rasp.Map),
        (lambda: T * 2, rasp.Map),
        (lambda: 2 * T, rasp.Map),
        (lambda: T / 2, rasp.Map),
        (lambda: 2 / T, rasp.Map),
        (lambda: T < 1, rasp.Map),
        (lambda: T <= 1, rasp.Map),
        (lambda: T > 1, rasp.Map),
        (lambda: T >= 1, rasp.Map),
        (lambda: T == 1, rasp.Map),
        (lambda: T != 1, rasp.Map),
        (lambda: ~T, rasp.Map),
        (lambda: T & True, rasp.Map),
        (lambda: True & T, rasp.Map),
        (lambda: T | False, rasp.Map),
        (lambda: False | T, rasp.Map),
        (lambda: T + IX, rasp.SequenceMap),
        (lambda: T - IX, rasp.SequenceMap),
        (lambda: T * IX, rasp.SequenceMap),
        (lambda: T / IX, rasp.SequenceMap),
        (lambda: T < IX, rasp.SequenceMap),
        (lambda: T == IX, rasp.SequenceMap),
        (lambda: T != IX, rasp.SequenceMap),
        (lambda: T & IX, rasp.SequenceMap),
        (lambda: T | IX, rasp.SequenceMap),
    ],
)
def test_operators_build_maps_and_sequence_maps(build, kind):
    expr = build()
    assert type(expr) is kind


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        (lambda: T + 1, [2, 3, 5]),
        (lambda: 1 + T, [2, 3, 5]),
        (lambda: T - 1, [0, 1, 3]),
        (lambda: 10 - T, [9, 8, 6]),
        (lambda: T * 3, [3, 6, 12]),
        (lambda: 3 * T, [3, 6, 12]),
        (lambda: T / 2, [0.5, 1.0, 2.0]),
        (lambda: 8 / T, [8.0, 4.0, 2.0]),
        (lambda: T < 2, [True, False, False]),
        (lambda: T <= 2, [True, True, False]),
        (lambda: T > 2, [False, False, True]),
        (lambda: T >= 2, [False, True, True]),
        (lambda: T == 2, [False, True, False]),
        (lambda: T != 2, [True, False, True]),
        (lambda: ~(T == 2), [True, False, True]),
        (lambda: T - IX, [1, 1, 2]),
        (lambda: IX - T, [-1, -1, -2]),
        (lambda: T * IX, [0, 2, 8]),
        (lambda: IX / T, [0.0, 0.5, 0.5]),
        (lambda: T > IX, [True, True, True]),
        (lambda: T == IX + 1, [True, True, False]),
        (lambda: (T > 1) & (IX > 1), [False, False, True]),
        (lambda: (T > 1) | (IX > 1), [False, True, True]),
        (lambda: 0 | (T > 1), [False, True, True]),
        (lambda: 1 & (T > 1), [False, True, True]),
    ],
)
def test_operator_values(build, expected):
    assert rasp.evaluate(build(), [1, 2, 4]) == expected


def test_selector_operators_combine_selectors():
    a, b = some_select(), rasp.Select(IX, IX, rasp.Comparison.LT)
    assert type(a & b) is rasp.SelectorAnd
    assert type(a | b) is rasp.SelectorOr
    assert type(~a) is rasp.SelectorNot


@pytest.mark.parametrize(
    "build",
    [
        lambda s: T + s,
        lambda s: s + T,
        lambda s: T * s,
        lambda s: s * T,
        lambda s: T & s,
        lambda s: s & T,
        lambda s: T | s,
        lambda s: s | T,
        lambda s: T.__eq__(s),
        lambda s: T.__lt__(s),
        lambda s: s - T,
    ],
)
def test_mixing_sops_and_selectors_is_a_type_error(build):
    with pytest.raises(rasp.RaspcTypeError):
        build(some_select())


# ---------------------------------------------------------------- constructor type errors


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: rasp.Map(3, T), "Map: f must be callable"),
        (lambda: rasp.Map(lambda x: x, 3), "Map: inner must be a rasp.SOp"),
        (lambda: rasp.Map(lambda x: x, some_select()), "inner must be a rasp.SOp"),
        (lambda: rasp.SequenceMap("f", T, IX), "SequenceMap: f must be callable"),
        (lambda: rasp.SequenceMap(lambda x, y: x, T, [1]), "snd must be a rasp.SOp"),
        (lambda: rasp.SequenceMap(lambda x, y: x, some_select(), T), "fst must be"),
        (lambda: rasp.LinearSequenceMap(T, 1, 1, 1), "LinearSequenceMap: snd must be"),
        (lambda: rasp.Select(T, some_select(), EQ), "Select: queries must be a rasp.SOp"),
        (lambda: rasp.Select(1, T, EQ), "Select: keys must be a rasp.SOp"),
        (lambda: rasp.Select(T, T, "=="), "predicate must be callable"),
        (lambda: rasp.SelectorAnd(some_select(), T), "SelectorAnd: snd must be a rasp.Selector"),
        (lambda: rasp.SelectorOr(T, some_select()), "SelectorOr: fst must be a rasp.Selector"),
        (lambda: rasp.SelectorNot(T), "SelectorNot: inner must be a rasp.Selector"),
        (lambda: rasp.Aggregate(T, T), "Aggregate: selector must be a rasp.Selector"),
        (lambda: rasp.Aggregate(some_select(), some_select()), "Aggregate: sop must be"),
        (lambda: rasp.Aggregate(some_select(), T, default=[0]), "default must be None, str"),
        (lambda: rasp.SelectorWidth(T), "SelectorWidth: selector must be a rasp.Selector"),
    ],
)
def test_constructor_type_errors(build, match):
    with pytest.raises(rasp.RaspcTypeError, match=match):
        build()


def test_type_errors_are_also_builtin_type_errors():
    with pytest.raises(TypeError):
        rasp.Map(lambda x: x, "tokens")


@pytest.mark.parametrize("default", [None, 0, 1.5, "x", True])
def test_aggregate_accepts_scalar_defaults(default):
    assert rasp.Aggregate(some_select(), T, default=default).default == default


def test_aggregate_default_is_none():
    assert rasp.Aggregate(some_select(), T).default is None


# ---------------------------------------------------------------- comparisons


@pytest.mark.parametrize(
    ("comparison", "truth"),
    [
        (rasp.Comparison.EQ, lambda k, q: k == q),
        (rasp.Comparison.LT, lambda k, q: k < q),
        (rasp.Comparison.LEQ, lambda k, q: k <= q),
        (rasp.Comparison.GT, lambda k, q: k > q),
        (rasp.Comparison.GEQ, lambda k, q: k >= q),
        (rasp.Comparison.NEQ, lambda k, q: k != q),
        (rasp.Comparison.TRUE, lambda k, q: True),
        (rasp.Comparison.FALSE, lambda k, q: False),
    ],
)
def test_comparisons_take_key_then_query(comparison, truth):
    for key in range(3):
        for query in range(3):
            assert comparison(key, query) == truth(key, query)


def test_comparison_of_none_is_a_value_error():
    with pytest.raises(rasp.RaspcValueError, match="undefined for None"):
        rasp.Comparison.LT(None, 1)
    with pytest.raises(ValueError):
        rasp.Comparison.TRUE(1, None)


def test_comparison_names_mirror_tracr():
    names = {c.name for c in rasp.Comparison}
    assert names == {"EQ", "LT", "LEQ", "GT", "GEQ", "NEQ", "TRUE", "FALSE"}


# ---------------------------------------------------------------- Tracr's API surface


def _tracr_public_names() -> set[str]:
    """Tracr's ``rasp`` module attributes not starting with ``_``, minus imported modules
    and the typing helpers it imports (``Any``, ``Dict``, ...)."""
    import types
    import typing

    import typing_extensions

    trasp = pytest.importorskip("tracr.rasp.rasp")
    names = set()
    for name, obj in vars(trasp).items():
        if name.startswith("_") or isinstance(obj, types.ModuleType):
            continue
        if any(getattr(m, name, None) is obj for m in (typing, typing_extensions)):
            continue  # from typing import Any, Callable, ...
        names.add(name)
    return names


def test_every_public_name_of_tracr_rasp_exists():
    names = _tracr_public_names()
    assert {"Value", "SelectorValue", "DefaultRASPEvaluator", "selector_and", "Map"} <= names
    missing = sorted(n for n in names if not hasattr(rasp, n))
    assert not missing, f"rasp lacks Tracr's {missing}"


def test_every_public_name_of_tracr_lib_exists():
    import types

    from rasp import lib

    tlib = pytest.importorskip("tracr.compiler.lib")
    names = {
        n
        for n, obj in vars(tlib).items()
        if (
            not n.startswith("_")
            and not isinstance(obj, types.ModuleType)
            and (callable(obj) and getattr(obj, "__module__", None) == tlib.__name__)
        )
        or isinstance(obj, tlib.rasp.RASPExpr)
    }
    assert {"make_sort", "length", "make_shuffle_dyck2"} <= names
    assert not sorted(n for n in names if not hasattr(lib, n))
    assert lib.length is lib.make_length()


def test_sops_and_selectors_are_callable_like_tracr():
    program = rasp.Map(lambda x: x + 1, T)
    assert program([1, 2]) == [2, 3] == rasp.evaluate(program, [1, 2])
    rows = [[True, False, True], [False, True, False], [True, False, True]]
    assert rasp.Select(T, T, EQ)([1, 2, 1]) == rows


def test_default_evaluator_is_ours():
    ev = rasp.DefaultRASPEvaluator()
    assert isinstance(ev, rasp.RASPEvaluator)
    hist = rasp.SelectorWidth(rasp.Select(T, T, EQ))
    assert ev.evaluate(hist, list("aba")) == rasp.evaluate(hist, list("aba")) == [2, 1, 2]


def test_tracr_selector_helpers_build_the_same_selection():
    a, b = rasp.Select(T, T, EQ), rasp.Select(IX, IX, rasp.Comparison.LT)
    xs = [1, 2, 1, 3]
    for ours, op in (
        (rasp.selector_and(a, b), a & b),
        (rasp.selector_or(a, b, simplify=False), a | b),
        (rasp.selector_not(a), ~a),
    ):
        assert isinstance(ours, type(op))
        assert ours(xs) == op(xs)
    assert rasp.sop_not(T == 1)(xs) == [False, True, False, True]
    # Tracr's reflected operators: a non-selector on the left defers to the selector
    assert isinstance(rasp.Selector.__rand__(a, b), rasp.SelectorAnd)


def test_tracr_annotation_defaults():
    m = rasp.Map(lambda x: x, T)
    assert m.annotations["encoding"] is rasp.Encoding.CATEGORICAL
    assert m.annotations["name"] == "map" and m.name is None  # a default, not a name
    assert dict(m.annotations) == {} and "name" not in m.annotations
    assert rasp.default_name(rasp.Select(T, T, EQ)) == "select"
    assert rasp.DEFAULT_ANNOTATORS["encoding"] is rasp.default_encoding
    with pytest.raises(TypeError):
        rasp.default_encoding(rasp.Select(T, T, EQ))
    with pytest.raises(KeyError, match="no annotation 'color'"):
        m.annotations["color"]
    copy = m.copy()
    assert copy.unique_id != m.unique_id and copy.f is m.f
    assert rasp.Aggregate[int] is not None and rasp.ConstantSOp[str] is not None


# ---------------------------------------------------------------- labels within a program


def _two_helpers() -> rasp.SOp:
    def helper(token: str) -> rasp.SOp:
        flag = rasp.numerical(token == T).named("flag")
        prefix = rasp.Select(IX, IX, rasp.Comparison.LEQ)
        return rasp.numerical(rasp.Aggregate(prefix, flag, default=0))

    return rasp.LinearSequenceMap(helper("a"), helper("b"), 1, -1)


def test_labels_are_unique_and_the_first_name_wins():
    program = _two_helpers()
    labels = rasp.assign_labels(program)
    order = rasp.postorder(program)
    assert len(set(labels.values())) == len(order)
    flags = [labels[e.unique_id] for e in order if e.name == "flag"]
    assert flags == ["flag", "flag_2"]
    assert labels[program.unique_id] == "linear_sequence_map_1"


def test_labels_depend_on_structure_not_on_when_nodes_were_built():
    first = rasp.assign_labels(_two_helpers())
    for _ in range(5):
        rasp.Map(lambda x: x, T)  # draw from the construction counter in between
    second = rasp.assign_labels(_two_helpers())
    assert sorted(first.values()) == sorted(second.values())


def test_generated_labels_never_take_a_users_name():
    user = rasp.Map(lambda x: x + 1, T).named("map_1")
    other = rasp.Map(lambda x: x + 2, T)  # unnamed: would be map_1
    fake = rasp.Map(lambda x: x, T).named("tokens")
    program = rasp.SequenceMap(
        lambda a, b: (a, b), rasp.SequenceMap(lambda a, b: a, other, user), fake
    )
    labels = rasp.assign_labels(program)
    assert labels[user.unique_id] == "map_1" and labels[other.unique_id] == "map_2"
    assert labels[T.unique_id] == "tokens" and labels[fake.unique_id] == "tokens_2"


def test_evaluate_all_uses_the_labels_within_the_program():
    program = _two_helpers()
    values = rasp.evaluate_all(program, ["a", "b", "a"])
    assert values["flag"] == [1, 0, 1] and values["flag_2"] == [0, 1, 0]
    assert values["linear_sequence_map_1"] == rasp.evaluate(program, ["a", "b", "a"])
