"""The circuit map is ground truth: every node is found where the map says, on every
library program, and the map survives JSON and save/load."""

from __future__ import annotations

import json

import networkx as nx
import numpy as np
import pytest

import compiler
import models
import rasp
from compiler.circuit import CircuitMap, circuit_map, hook_sublayer, resid_hook
from models.cache import run_with_cache
from models.verification import input_space, values_match
from rasp import lib
from rasp.errors import EvaluationError

MAX_LEN = 4


def _inputs(entry: lib.LibraryProgram, program: rasp.SOp) -> tuple[list, list]:
    """A few inputs of every length the evaluator accepts, and its values at every node."""
    kept, expected = [], []
    for xs in input_space(entry.vocab, MAX_LEN, exhaustive_limit=0, samples=10, seed=1):
        try:
            expected.append(rasp.evaluate_all(program, xs))
            kept.append(xs)
        except EvaluationError:
            continue
    return kept, expected


@pytest.mark.parametrize("name", sorted(lib.LIBRARY))
def test_every_node_lives_where_the_map_says(name):
    entry = lib.LIBRARY[name]
    program = entry.build(MAX_LEN)
    model = compiler.compile_rasp_to_model(program, entry.vocab, MAX_LEN)
    circuit = circuit_map(model)
    inputs, expected = _inputs(entry, program)
    assert inputs, name
    _, cache = run_with_cache(model, [[model.layout.bos, *xs] for xs in inputs])
    outputs = {
        s: cache[f"blocks.{s // 2}.hook_{'mlp' if s % 2 else 'attn'}_out"]
        for s in range(2 * circuit.num_layers)
    }
    for label, node in circuit.nodes.items():
        # found after the sub-layer the map names, at the hook it names
        assert node.hook == resid_hook(node.ready)
        for row, want in enumerate(expected):
            got = cache.decode(node.hook, row)[label]
            assert all(map(values_match, want[label], got)), (label, inputs[row], got)
        if node.computed_by[0] in ("embed", "pos_embed"):
            assert node.ready == -1
            continue
        comps = [circuit.components[c] for c in node.computed_by]
        assert comps[-1].sublayer == node.ready
        # not there before its first component runs
        before = cache[resid_hook(comps[0].sublayer - 1)]
        assert not np.any(before[..., list(node.directions) + list(node.scratch)]), label
        # written by its last component and by no other sub-layer
        for s, delta in outputs.items():
            if s != node.ready:
                assert not np.any(delta[..., list(node.directions)]), (label, s)
        assert set(node.directions) >= set(comps[-1].writes) - set(node.scratch)
        # a head's own output (hook_result) carries the node; the other heads' do not
        if comps[-1].kind == "attn":
            result = cache[comps[-1].hook]
            others = [h for h in range(circuit.num_heads) if h != comps[-1].head]
            assert not np.any(result[:, :, others][..., list(node.directions)]), label
            for row, want in enumerate(expected):
                got = cache.decode(comps[-1].hook, row, head=comps[-1].head)[label]
                assert all(map(values_match, want[label], got)), (label, got)
    _check_edges(circuit)


def _check_edges(circuit: CircuitMap) -> None:
    """Edges join a writer to a later reader of the same directions, and carry only nodes
    that the reading node reads (or its own scratch)."""
    graph = circuit.graph(bias=True)
    assert nx.is_directed_acyclic_graph(graph)
    for edge in circuit.edges:
        src, dst = circuit.components[edge.src], circuit.components[edge.dst]
        assert src.sublayer < dst.sublayer
        assert set(edge.directions) <= set(src.writes) & set(dst.reads)
        allowed = {r for n in dst.nodes for r in (*circuit.nodes[n].reads, n)}
        if dst.kind == "unembed":
            allowed = {circuit.output}
        assert set(edge.nodes) <= allowed, edge
    # every program input a component reads reaches it along an edge
    for comp in circuit.components.values():
        read_nodes = {circuit.direction_owner(i) for i in comp.reads} - {None}
        carried = {n for e in circuit.edges if e.dst == comp.name for n in e.nodes}
        assert read_nodes - set(comp.nodes) <= carried, comp.name


def test_reverse_circuit_is_the_textbook_one():
    model = compiler.compile_rasp(lib.make_reverse(rasp.tokens), {"a", "b", "c"}, 4)
    circuit = circuit_map(model)
    layer, head = circuit.head("reverse")
    flip = circuit.components[f"L{layer}H{head}"]
    labels = circuit.residual_labels
    assert {labels[i] for i in flip.value} == {"tokens:a", "tokens:b", "tokens:c"}
    assert {circuit.direction_owner(i) for i in flip.key} - {None} == {"indices"}
    graph = circuit.graph()
    opp_mlp = next(c for c in graph.predecessors(flip.name) if c.startswith("L1MLP["))
    assert set(graph.predecessors(flip.name)) == {"embed", "pos_embed", opp_mlp}
    assert list(graph.successors(flip.name)) == ["unembed"]
    assert graph.edges["L0H0", "L0MLP[0:8]"]["directions"] == ["length#width_attn"]
    merged = circuit.graph(merge_mlps=True)
    assert "L1MLP" in merged and opp_mlp not in merged
    assert circuit.graph(bias=True).number_of_edges() > graph.number_of_edges()
    with pytest.raises(rasp.RaspcValueError, match="not by an attention head"):
        circuit.head("indices")
    with pytest.raises(rasp.RaspcValueError, match="no node 'nope'"):
        circuit.node("nope")
    assert "reverse" in circuit.summary()


def test_two_numerical_inputs_read_exactly_what_each_mlp_reads():
    """A SequenceMap of two numerical SOps is two MLPs; the first reads only the second
    input, which the program graph alone would not tell."""
    x = rasp.numerical(rasp.Map(lambda t: t, rasp.tokens)).named("x")
    y = rasp.numerical(rasp.Map(lambda t: t + 1, rasp.tokens)).named("y")
    prod = rasp.numerical(rasp.SequenceMap(lambda a, b: a * b, x, y)).named("prod")
    circuit = circuit_map(compiler.compile_rasp(prod, {1, 2}, 3))
    first, second = (circuit.components[c] for c in circuit.node("prod").computed_by)
    owners = {circuit.direction_owner(i) for i in first.reads} - {None}
    assert owners == {"y"}
    into_second = {n for e in circuit.edges if e.dst == second.name for n in e.nodes}
    assert into_second == {"x", "prod"}  # x, and the categorical copy of y (prod's scratch)


def test_json_and_save_load_round_trip(tmp_path):
    model = compiler.compile_rasp_to_model(lib.make_frac_prevs(rasp.tokens == "a"), {"a", "b"}, 4)
    circuit = circuit_map(model)
    text = json.dumps(circuit.to_json())
    assert CircuitMap.from_json(json.loads(text)) == circuit
    loaded = models.load_model(models.save_model(model, tmp_path / "m"))
    assert circuit_map(loaded) == circuit
    assert circuit_map(model.compiled) == circuit  # numpy params give the same map
    with pytest.raises(rasp.RaspcValueError, match="not a circuit map"):
        CircuitMap.from_json({"format": "other"})
    with pytest.raises(rasp.RaspcValueError, match="circuit_map needs a compiled model"):
        circuit_map(object())


def test_hook_names_and_sublayers_agree():
    for sublayer in range(-1, 6):
        assert hook_sublayer(resid_hook(sublayer), 3) == sublayer
    assert hook_sublayer("blocks.2.hook_resid_pre", 3) == 3
    with pytest.raises(rasp.RaspcValueError, match="not a residual-stream hook"):
        hook_sublayer("blocks.0.attn.hook_pattern", 3)
