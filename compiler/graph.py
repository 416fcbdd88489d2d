"""Pass 1: the program as a networkx DAG, one node per expression, keyed by label.

Edges run from an expression to the expressions that read it.  The walk is
iterative and linear in the program's size.  Two distinct expressions sharing
a label would make every later pass ambiguous, so they are refused here.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx

import rasp
from rasp.errors import CompileError, RaspcTypeError

__all__ = ["ProgramGraph", "build_graph"]


@dataclass(frozen=True)
class ProgramGraph:
    """The DAG of a program: ``graph`` over labels, the expressions, and a topological order."""

    graph: nx.DiGraph
    exprs: dict[str, rasp.RASPExpr]
    order: tuple[str, ...]  # children before parents
    output: str

    def expr(self, label: str) -> rasp.RASPExpr:
        return self.exprs[label]


def build_graph(program: rasp.RASPExpr) -> ProgramGraph:
    """Walk ``program`` into a :class:`ProgramGraph`; refuse clashing labels."""
    if not isinstance(program, rasp.SOp):
        raise RaspcTypeError(
            f"compile: the program must be an SOp (one value per position), found "
            f"{type(program).__name__} {getattr(program, 'label', program)!r}; "
            "aggregate a selector into an SOp first"
        )
    exprs: dict[str, rasp.RASPExpr] = {}
    clashes: list[tuple[str, str]] = []
    graph = nx.DiGraph()
    order = rasp.postorder(program)
    for expr in order:
        seen = exprs.get(expr.label)
        if seen is not None and seen is not expr:
            clashes.append(
                (
                    expr.label,
                    f"two different expressions ({type(seen).__name__} and "
                    f"{type(expr).__name__}) share this label; give them distinct names with "
                    ".named(...)",
                )
            )
            continue
        exprs[expr.label] = expr
        graph.add_node(expr.label)
        for child in expr.children:
            graph.add_edge(child.label, expr.label)
    if clashes:
        raise CompileError(clashes)
    return ProgramGraph(
        graph=graph,
        exprs=exprs,
        order=tuple(e.label for e in order),
        output=program.label,
    )
