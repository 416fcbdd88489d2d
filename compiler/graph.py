"""Pass 1: the program as a networkx DAG, one node per expression, keyed by label.

Pass 1 has two halves around the rewrites: :func:`label_program` (1a) labels the
user's program, passes 1b (:mod:`compiler.fuse`) and 1c (:mod:`compiler.pairing`)
rewrite it, and :func:`build_graph` (1d) turns the result into the DAG, in that
order in :func:`compiler.compiling.compile_rasp`.

Labels come from the program's structure (:func:`rasp.walk.assign_labels`),
never from a counter: :func:`label_program` labels the user's program before
any rewrite (so :func:`rasp.evaluate_all` on the user's program gives the same
labels), the rewrites keep those labels, and :func:`build_graph` numbers only
the nodes the rewrites created.  Users may give several expressions one name;
the first in traversal order keeps it, the others get ``name_2``, ``name_3``, ...

Edges run from an expression to the expressions that read it.  The walk is
iterative and linear in the program's size.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx

import rasp
from rasp.errors import CompileError, RaspcTypeError
from rasp.walk import relabel

__all__ = ["ProgramGraph", "build_graph", "label_program"]


@dataclass(frozen=True)
class ProgramGraph:
    """The DAG of a program: ``graph`` over labels, the expressions, and a topological order."""

    graph: nx.DiGraph
    exprs: dict[str, rasp.RASPExpr]
    order: tuple[str, ...]  # children before parents
    output: str

    def expr(self, label: str) -> rasp.RASPExpr:
        return self.exprs[label]


def _check_program(program: object) -> None:
    if not isinstance(program, rasp.SOp):
        raise RaspcTypeError(
            f"compile: the program must be an SOp (one value per position), found "
            f"{type(program).__name__} {getattr(program, 'label', program)!r}; "
            "aggregate a selector into an SOp first"
        )


def label_program(program: rasp.SOp) -> rasp.SOp:
    """``program`` with every node carrying its structural label (see the module
    docstring); run before any rewrite."""
    _check_program(program)
    return relabel(program)


def build_graph(program: rasp.RASPExpr) -> ProgramGraph:
    """Walk ``program`` into a :class:`ProgramGraph`, labelling any node that has no
    structural label yet (nodes made by rewrites)."""
    _check_program(program)
    program = relabel(program)
    exprs: dict[str, rasp.RASPExpr] = {}
    clashes: list[tuple[str, str]] = []
    graph = nx.DiGraph()
    order = rasp.postorder(program)
    for expr in order:
        seen = exprs.get(expr.label)
        if seen is not None and seen is not expr:  # relabel makes labels unique
            clashes.append(
                (
                    expr.label,
                    f"internal error: two different expressions ({type(seen).__name__} and "
                    f"{type(expr).__name__}) got this label; please report it",
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
