"""One declaration per primitive (issue 14): nodes are frozen dataclasses whose child
fields are declared once, every construction draws a fresh id, rewrites use
``replace`` with an explicit origin label, and rewritten predicates are data."""

from __future__ import annotations

import numpy as np
import pytest

import compiler
import rasp
from compiler import selectors
from compiler.fuse import fuse_program
from compiler.graph import label_program
from compiler.predicates import Component, Through
from rasp.expr import NODE_TYPES, Zip, child_fields, replace, with_children

T, IX = rasp.tokens, rasp.indices
LT, EQ = rasp.Comparison.LT, rasp.Comparison.EQ


def test_children_come_from_the_declared_child_fields():
    names = {cls.__name__: tuple(f.name for f in child_fields(cls)) for cls in NODE_TYPES}
    assert names["Map"] == ("inner",)
    assert names["SequenceMap"] == names["LinearSequenceMap"] == ("fst", "snd")
    assert names["Select"] == ("keys", "queries")
    assert names["Aggregate"] == ("selector", "sop")
    assert names["Zip"] == ("parts",)
    assert names["Full"] == names["TokensType"] == ()
    zipped = Zip((T, IX), "sel")
    assert zipped.children == (T, IX)


def test_replace_draws_a_fresh_id_and_carries_the_origin_label():
    m = rasp.numerical(rasp.Map(lambda x: x + 1, T)).named("m")
    copy = replace(m, "origin_label", f=lambda x: x + 2)
    assert copy.unique_id != m.unique_id
    assert copy.label == "origin_label" and copy.name == "m"
    assert rasp.is_numerical(copy) and copy.inner is T
    assert copy([1, 2]) == [3, 4] and m([1, 2]) == [2, 3]
    fresh = replace(m, None)
    assert fresh.label == "m" and fresh.unique_id not in {m.unique_id, copy.unique_id}
    with pytest.raises(rasp.RaspcTypeError, match=r"inner must be a rasp\.SOp"):
        replace(m, None, inner=rasp.Select(T, T, EQ))  # replace checks the fields
    with pytest.raises(rasp.RaspcValueError, match="has 1 children, got 2"):
        with_children(m, (T, IX), None)


def test_copies_are_not_simplified_again():
    inner = rasp.Map(lambda x: x * 10, rasp.Map(lambda x: x + 1, T, simplify=False), False)
    outer = rasp.Map(lambda x: x - 1, inner)  # simplifies inner away, keeps its input
    assert type(outer.inner) is rasp.Map and outer.inner.inner is T
    for copy in (outer.named("o"), outer.copy(), replace(outer, None)):
        assert copy.inner is outer.inner  # the Map stays the Map it is
        assert copy([1, 2]) == outer([1, 2]) == [19, 29]


def test_compiling_never_reuses_an_id():
    """unique_id is distinct for every expression ever built: rewritten nodes are new."""
    shared = rasp.Map(lambda x: x + 1, T)
    program = rasp.SequenceMap(lambda a, b: a + b, shared, rasp.Map(lambda x: -x, shared))
    user = {e.unique_id: e for e in rasp.postorder(program)}
    compiled = compiler.compile_rasp(program, {1, 2}, 3)
    for expr in compiled.graph.exprs.values():
        assert user.get(expr.unique_id, expr) is expr


def test_zip_evaluates_to_tuples_with_none_kept():
    none_at_0 = rasp.Aggregate(rasp.Select(IX, IX, rasp.Comparison.LT), T)
    zipped = Zip((T, none_at_0), "sel")
    assert rasp.evaluate(zipped, ["a", "a"]) == [("a", None), ("a", "a")]


def _fused_select(program: rasp.SOp) -> rasp.Select:
    fused = fuse_program(label_program(program)).program
    return next(e for e in rasp.postorder(fused) if isinstance(e, rasp.Select))


def test_a_fused_comparison_is_data_and_prints_what_it_compares():
    def negate(x):
        return -x

    neg = rasp.Map(negate, T)
    select = _fused_select(rasp.Aggregate(rasp.Select(neg, neg, LT), T))
    assert select.keys is not neg and select.keys.label == "tokens"
    assert select.predicate == Through(LT, negate, negate)
    assert repr(select.predicate) == "LT on (negate(key), negate(query))"
    paired = Through(Through(EQ, None, negate), Component(0), Component(1))
    assert repr(paired) == "(EQ on (key, negate(query))) on (key[0], query[1])"


def test_a_fused_comparison_still_takes_the_numpy_fast_path(monkeypatch):
    neg = rasp.Map(lambda x: -x, T)
    predicate = _fused_select(rasp.Aggregate(rasp.Select(neg, neg, LT), T)).predicate
    keys, queries = [3, None, 1, 2], [2, 1, None]
    want = np.array(
        [[k is not None and q is not None and predicate(k, q) for k in keys] for q in queries]
    )

    def no_python_calls(*args):
        raise AssertionError("leaf_table called the predicate pair by pair")

    monkeypatch.setattr(selectors, "holds", no_python_calls)
    assert (selectors.leaf_table(predicate, keys, queries) == want).all()


def test_a_paired_comparison_still_takes_the_fast_path_and_prints(monkeypatch):
    either = rasp.Select(T, T, EQ) | rasp.Select(IX, IX, LT)
    compiled = compiler.compile_rasp(rasp.SelectorWidth(either), {"a", "b"}, 3)
    leaves = [e for e in compiled.graph.exprs.values() if isinstance(e, rasp.Select)]
    zipped = leaves[0].keys
    assert isinstance(zipped, Zip) and all(leaf.keys is zipped for leaf in leaves)
    at = {part.label: k for k, part in enumerate(zipped.parts)}  # SOp == builds an SOp
    t, i = at["tokens"], at["indices"]
    shown = sorted(repr(leaf.predicate) for leaf in leaves)
    assert shown == [f"EQ on (key[{t}], query[{t}])", f"LT on (key[{i}], query[{i}])"]
    monkeypatch.setattr(selectors, "holds", lambda *a: pytest.fail("pair by pair"))
    pairs = [tuple(p[::-1] if t else p) for p in [("a", 0), ("b", 1), (None, 2)]]
    table = selectors.leaf_table(leaves[0].predicate, pairs, pairs)
    assert table.shape == (3, 3) and table.dtype == bool
