"""Iterative traversal of expression DAGs, and the labels that identify their nodes.

Programs can be hundreds of nodes deep, so nothing here recurses: every pass
that needs the nodes in dependency order uses :func:`postorder`, which is
linear in the number of nodes and edges.

Labels are derived from the program's structure only (:func:`assign_labels`),
never from a process-wide counter, so the same program gets the same labels
every time it is labelled, in this process or another.
"""

from __future__ import annotations

from rasp.expr import IndicesType, LengthType, RASPExpr, TokensType, with_children

__all__ = ["assign_labels", "postorder", "relabel"]

_PRIMITIVES = (TokensType, IndicesType, LengthType)
RESERVED_LABELS = frozenset({"one"})
"""Labels no node gets, because compiled models use them for their own residual
directions (``one``, the constant bias); a node the user named so becomes ``one_2``."""


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


def assign_labels(root: RASPExpr) -> dict[int, str]:
    """A unique label for every expression of ``root``, keyed by ``unique_id``.

    Deterministic in the program's structure (its :func:`postorder`), in three
    rounds so that no generated label takes a name the user wrote:

    1. the primitives keep ``tokens``/``indices``/``length``, and nodes already
       labelled by :func:`relabel` keep their label;
    2. the first node in traversal order with a given name gets that name;
    3. every other node gets its name (or, unnamed, its kind: ``map``,
       ``select``, ...) plus ``_n``, with ``n`` counting up per base in traversal
       order and skipping labels already taken.
    """
    order = postorder(root)
    labels: dict[int, str] = {}
    taken: set[str] = set(RESERVED_LABELS)
    for expr in order:
        fixed = expr.label if isinstance(expr, _PRIMITIVES) else expr._label
        if fixed is not None and fixed not in taken:
            labels[expr.unique_id] = fixed
            taken.add(fixed)
    for expr in order:
        name = expr.name
        if expr.unique_id not in labels and name is not None and name not in taken:
            labels[expr.unique_id] = name
            taken.add(name)
    counters: dict[str, int] = {}
    for expr in order:
        if expr.unique_id in labels:
            continue
        named = expr.name is not None
        base = expr.name if named else expr._kind
        n = counters.get(base, 2 if named else 1)  # a repeated name's second use is _2
        while f"{base}_{n}" in taken:
            n += 1
        label = f"{base}_{n}"
        counters[base] = n + 1
        labels[expr.unique_id] = label
        taken.add(label)
    return labels


def relabel(root: RASPExpr) -> RASPExpr:
    """``root`` rebuilt so that every node carries its :func:`assign_labels` label as
    ``.label`` (same functions, shared subexpressions still shared; rebuilt nodes get
    fresh ids, nodes already carrying their label are reused as they are).

    For compiler passes: once relabelled, a node keeps its label through later
    rewrites (:func:`rasp.expr.replace` takes the label of the node it stands for), and
    labelling the rewritten program again only numbers the nodes the rewrites created."""
    labels = assign_labels(root)
    new: dict[int, RASPExpr] = {}
    for expr in postorder(root):
        kids = tuple(new[c.unique_id] for c in expr.children)
        same_kids = all(a is b for a, b in zip(kids, expr.children))
        label = labels[expr.unique_id]
        if same_kids and expr._label == label:
            new[expr.unique_id] = expr
        elif isinstance(expr, _PRIMITIVES) and same_kids and expr.label == label:
            new[expr.unique_id] = expr  # the shared primitive objects stay as they are
        else:
            new[expr.unique_id] = with_children(expr, kids, label)
    return new[root.unique_id]
