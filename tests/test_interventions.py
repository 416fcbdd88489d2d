"""Interventions: ``rasp.evaluate(..., interventions=...)`` and patching a node's residual
directions on the compiled model (and on a HookedTransformer where TL 2.x/3.x is
installed) agree on every patchable node of every library program."""

from __future__ import annotations

import random

import pytest

import compiler
import rasp
from models.interventions import patch_node, patch_node_tl, patchable_nodes
from models.verification import input_space, values_match
from rasp import lib
from rasp.errors import EvaluationError, RaspcValueError


def _agree(got: list, want: list) -> bool:
    return len(got) == len(want) and all(values_match(w, g) for g, w in zip(got, want))


def _pairs(entry, n: int = 12) -> list[tuple[list, list]]:
    """``n`` (base, source) pairs of equal length, every length represented."""
    inputs = input_space(sorted(entry.vocab, key=repr), entry.max_seq_len, samples=300)
    by_len: dict[int, list] = {}
    for x in inputs:
        by_len.setdefault(len(x), []).append(list(x))
    rng = random.Random(0)
    lengths = sorted(by_len)
    return [
        (
            rng.choice(by_len[lengths[i % len(lengths)]]),
            rng.choice(by_len[lengths[i % len(lengths)]]),
        )
        for i in range(n)
    ]


def _expected(program, label: str, pairs) -> tuple[list, list]:
    """The evaluator's outputs with ``label`` swapped in; pairs whose swapped values make a
    categorical Aggregate combine different values (outside the program's domain) dropped."""
    kept, want = [], []
    for base, source in pairs:
        swapped = rasp.evaluate_all(program, source)[label]
        try:
            want.append(rasp.evaluate(program, base, interventions={label: swapped}))
        except EvaluationError:
            continue
        kept.append((base, source))
    return kept, want


@pytest.mark.parametrize("name", sorted(lib.LIBRARY))
def test_evaluator_and_model_patching_agree_on_every_node(name):
    entry = lib.LIBRARY[name]
    program = entry.build(entry.max_seq_len)
    model = compiler.compile_rasp_to_model(program, set(entry.vocab), entry.max_seq_len)
    checked = changed = 0
    for label in patchable_nodes(model):
        kept, want = _expected(program, label, _pairs(entry))
        if not kept:
            continue
        got = patch_node(model, label, [b for b, _ in kept], [s for _, s in kept])
        for (base, _), g, w in zip(kept, got, want):
            assert _agree(g, w), (label, base, g, w)
            checked += 1
            changed += not _agree(g, rasp.evaluate(program, base))
    assert checked > 0
    if name in ("reverse", "sort", "hist"):
        assert changed > 0  # swapping a node's value really changed these outputs


def test_intervention_recomputes_downstream_and_checks_shapes(same):
    program = lib.make_reverse(rasp.tokens)
    assert same(
        rasp.evaluate(program, ["a", "b", "c"], interventions={"tokens": ["c", "c", "a"]}),
        ["a", "c", "c"],
    )
    with pytest.raises(RaspcValueError, match="one value per position"):
        rasp.evaluate(program, ["a", "b"], interventions={"tokens": ["a"]})
    with pytest.raises(RaspcValueError, match="no node 'nope'"):
        rasp.evaluate(program, ["a"], interventions={"nope": ["a"]})


def test_patching_refuses_mismatched_lengths(reverse):
    with pytest.raises(RaspcValueError, match="same length"):
        patch_node(reverse, "tokens", [["a", "b"]], [["a"]])


def test_tl_patching_agrees_with_the_evaluator():
    torch = pytest.importorskip("torch")
    from models.hooked import has_hooked_transformer, to_hooked_transformer
    from models.tl_export import to_transformer_lens

    entry = lib.LIBRARY["reverse"]
    program = entry.build(entry.max_seq_len)
    model = compiler.compile_rasp_to_model(program, set(entry.vocab), entry.max_seq_len)
    export = to_hooked_transformer if has_hooked_transformer() else to_transformer_lens
    tl_model = export(model)
    checked = 0
    for label in patchable_nodes(model):
        kept, want = _expected(program, label, _pairs(entry, 8))
        for (base, source), w in zip(kept, want):
            (got,) = patch_node_tl(tl_model, model, label, [base], [source])
            assert _agree(got, w), (label, base, source, got, w)
            checked += 1
    assert checked > 0 and torch is not None
