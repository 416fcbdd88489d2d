"""Iterative traversal of expression DAGs.

Programs can be hundreds of nodes deep, so nothing here recurses: every pass
that needs the nodes in dependency order uses :func:`postorder`, which is
linear in the number of nodes and edges.
"""

from __future__ import annotations

from rasp.expr import RASPExpr

__all__ = ["postorder"]


def postorder(root: RASPExpr) -> list[RASPExpr]:
    """All expressions reachable from ``root``, each once, children before parents."""
    order: list[RASPExpr] = []
    done: set[int] = set()
    stack: list[tuple[RASPExpr, bool]] = [(root, False)]
    while stack:
        expr, expanded = stack.pop()
        if expr.unique_id in done:
            continue
        if expanded:
            done.add(expr.unique_id)
            order.append(expr)
            continue
        stack.append((expr, True))
        for child in reversed(expr.children):
            if child.unique_id not in done:
                stack.append((child, False))
    return order
