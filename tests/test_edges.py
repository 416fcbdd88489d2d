"""Ground-truth edges in auto-circuit's naming, per role, with bias-only edges flagged."""

from __future__ import annotations

import json

import pytest

import compiler
import rasp
from compiler.circuit import circuit_map
from compiler.edges import EdgeSet, all_edges, edge_set
from rasp import lib
from rasp.errors import RaspcValueError

# auto-circuit's official ACDC edges for tracr-reverse (Conmy et al. 2023), translated to
# raspc's layers: Tracr's A0.0 / MLP 0 are raspc's; Tracr's MLP 1 and MLP 2 (length -
# indices, then - 1) are raspc's one fused MLP 1 (so Tracr's MLP 1->MLP 2 is inside it);
# Tracr's A3.0 is raspc's A2.0.
ACDC_REVERSE_TRANSLATED = {
    "A2.0->Resid End",
    "MLP 1->A2.0.Q",
    "Resid Start->A2.0.K",
    "Resid Start->A2.0.V",
    "MLP 0->MLP 1",
    "Resid Start->MLP 1",
    "A0.0->MLP 0",
    "Resid Start->MLP 0",
    "Resid Start->A0.0.V",
}


def _edges(name: str) -> EdgeSet:
    e = lib.LIBRARY[name]
    compiled = compiler.compile_rasp(e.build(e.max_seq_len), set(e.vocab), e.max_seq_len)
    model = compiler.compile_rasp_to_model(e.build(e.max_seq_len), set(e.vocab), e.max_seq_len)
    return edge_set(circuit_map(model), model.params, values=compiled.values)


def test_reverse_contains_auto_circuits_acdc_edges():
    edges = _edges("reverse")
    assert edges.names() >= ACDC_REVERSE_TRANSLATED
    # what each role really reads: tokens reach the reverse head only through V
    assert edges.edge("Resid Start->A2.0.V").nodes == ("tokens",)
    assert edges.edge("Resid Start->A2.0.Q").bias_only
    assert edges.edge("Resid Start->A2.0.K").nodes == ("indices",)
    # the length head's selector compares nothing: every input edge is a constant
    assert all(edges.edge(f"Resid Start->A0.0.{r}").bias_only for r in "QKV")
    assert not edges.names(bias=False) >= ACDC_REVERSE_TRANSLATED


@pytest.mark.parametrize("name", sorted(lib.LIBRARY))
def test_edges_are_edges_of_the_graph_and_reach_the_output(name):
    edges = _edges(name)
    possible = set(all_edges(edges.num_layers, edges.num_heads))
    assert edges.names() <= possible
    assert any(e.dst == "Resid End" and not e.bias_only for e in edges.edges)
    for e in edges.edges:
        assert e.components and set(e.nodes).isdisjoint(e.constants)


def test_json_round_trip_names_raspc_components():
    edges = _edges("sort")
    data = json.loads(json.dumps(edges.to_json()))
    assert EdgeSet.from_json(data) == edges
    assert all(e["raspc"] for e in data["edges"])
    with pytest.raises(RaspcValueError, match="not an edge set"):
        EdgeSet.from_json({"format": "x"})


def test_all_edges_matches_auto_circuits_count():
    # 1 layer, 1 head: Resid Start -> {A0.0.Q/K/V, MLP 0, Resid End}, A0.0 -> {MLP 0,
    # Resid End}, MLP 0 -> Resid End
    assert len(all_edges(1, 1)) == 5 + 2 + 1
    assert "MLP 0->MLP 0" not in all_edges(2, 1) and "A0.0->A0.0.Q" not in all_edges(2, 1)


def test_without_value_sets_equal_rows_count_as_varying():
    model = compiler.compile_rasp_to_model(lib.make_reverse(rasp.tokens), {"a", "b"}, 3)
    edges = edge_set(circuit_map(model), model.params)
    assert not edges.edge("Resid Start->A0.0.Q").bias_only  # tokens might be None
