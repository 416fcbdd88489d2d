"""Every pass that dispatches on node type does so through a table that covers every
node type (issue 14): adding a primitive without a rule in some pass fails here, not
silently at compile time.

A pass's table is a module-level ``RULES`` (or ``<WHAT>_RULES`` for a second
dispatch in one module) mapping node types to functions; a module may exempt types
with ``RULES_EXEMPT: frozenset[type]`` (one reason per type, in a comment there).
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Mapping
from types import ModuleType

import pytest

import compiler
import rasp
from rasp.expr import NODE_TYPES, RASPExpr

PACKAGES = (rasp, compiler)


def _modules() -> list[ModuleType]:
    out = []
    for package in PACKAGES:
        out.append(package)
        for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            out.append(importlib.import_module(info.name))
    return out


MODULES = _modules()


def _subclasses(cls: type) -> set[type]:
    found: set[type] = set()
    stack = [cls]
    while stack:
        for sub in stack.pop().__subclasses__():
            if sub not in found:
                found.add(sub)
                stack.append(sub)
    return found


def concrete_node_types() -> set[type]:
    """Subclasses of RASPExpr defined in rasp/ or compiler/ that are node types of their
    own (abstract bases say so with ``_abstract = True`` in their class body)."""
    ours = {m.__name__ for m in MODULES}
    return {
        cls
        for cls in _subclasses(RASPExpr)
        if cls.__module__ in ours and not cls.__dict__.get("_abstract", False)
    }


def dispatch_tables() -> list[tuple[str, Mapping]]:
    """Every ``RULES`` / ``*_RULES`` mapping keyed by types, as (qualified name, table)."""
    tables = []
    for module in MODULES:
        for name, value in vars(module).items():
            if not (name == "RULES" or name.endswith("_RULES")):
                continue
            if isinstance(value, Mapping) and value and all(inspect.isclass(k) for k in value):
                tables.append((f"{module.__name__}.{name}", value))
    return tables


TABLES = dispatch_tables()


def test_node_types_lists_every_concrete_node_type():
    assert set(NODE_TYPES) == concrete_node_types()
    assert len(NODE_TYPES) == len(set(NODE_TYPES))


def test_the_passes_that_dispatch_have_tables():
    names = {name for name, _ in TABLES}
    expected = {
        "rasp.evaluate.RULES",
        "compiler.values.RULES",
        "compiler.coverage.RULES",
        "compiler.coverage.MATRIX_RULES",
        "compiler.causal.RULES",
        "compiler.fuse.RULES",
        "compiler.pairing.RULES",
    }
    assert expected <= names, expected - names


def missing_types(name: str, table: Mapping) -> set[type]:
    """The node types ``table`` (found as ``name``) neither covers nor exempts."""
    module = importlib.import_module(name.rsplit(".", 1)[0])
    exempt = getattr(module, "RULES_EXEMPT", frozenset())
    return concrete_node_types() - set(table) - set(exempt)


@pytest.mark.parametrize("name, table", TABLES, ids=[name for name, _ in TABLES])
def test_every_table_covers_every_node_type(name, table):
    missing = missing_types(name, table)
    assert not missing, f"{name} has no rule for {sorted(t.__name__ for t in missing)}"
    stray = set(table) - concrete_node_types()
    assert not stray, f"{name} has rules for non-node types {sorted(map(str, stray))}"
    assert all(callable(rule) for rule in table.values())


def test_a_missing_entry_is_caught():
    """The check above fails for a table that lacks a node type."""
    table = dict(TABLES)["rasp.evaluate.RULES"]
    assert not missing_types("rasp.evaluate.RULES", table)
    partial = {k: v for k, v in table.items() if k is not rasp.Aggregate}
    assert missing_types("rasp.evaluate.RULES", partial) == {rasp.Aggregate}


def test_the_compiled_graph_evaluates_like_the_program():
    """Compiler-internal nodes have evaluator rules: the fused and paired graph gives
    the user's program's values (the causal check evaluates it)."""
    either = rasp.Select(rasp.tokens, rasp.tokens, rasp.Comparison.EQ) | rasp.Select(
        rasp.indices, rasp.indices, rasp.Comparison.LT
    )
    program = rasp.SelectorWidth(either)
    compiled = compiler.compile_rasp(program, {"a", "b"}, 4)
    graph_output = compiled.graph.expr(compiled.graph.output)
    kinds = {type(e).__name__ for e in rasp.postorder(graph_output)}
    assert "Zip" in kinds
    for xs in (["a"], ["a", "b"], ["b", "a", "a"], ["a", "b", "b", "a"]):
        assert rasp.evaluate(graph_output, xs) == rasp.evaluate(program, xs)
        masked = rasp.evaluate(graph_output, xs, causal=True)
        assert masked == rasp.evaluate(program, xs, causal=True)
