"""Pass 6: the residual stream's basis.

Every value that must live in the stream gets its own labelled direction, in a
deterministic order: ``one``, the BOS token, then each SOp's directions in the
program's dependency order (values sorted), then the compiler-internal
directions (flags, gates, SelectorWidth scratch).  The length of the result is
the model width ``d_model``.

Directions are never merged: two that are equal, or that print the same
``label:value`` (the residual labels users and saved files see), are an
error, because merging them would make two values share one direction.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import rasp
from compiler.basis import ONE, Direction, Role
from compiler.blocks import Block, HeadBlock, node_directions
from compiler.graph import ProgramGraph
from compiler.values import ValueSets
from rasp.errors import CompileError

__all__ = ["ResidualSpace", "allocate_residual"]


@dataclass(frozen=True)
class ResidualSpace:
    directions: tuple[Direction, ...]
    node_dirs: dict[str, tuple[Direction, ...]]  # SOp label -> its directions

    @cached_property
    def index(self) -> dict[Direction, int]:
        """Direction -> position in the stream (built once)."""
        return {d: i for i, d in enumerate(self.directions)}

    @property
    def labels(self) -> list[str]:
        return [str(d) for d in self.directions]

    def __len__(self) -> int:
        return len(self.directions)


def allocate_residual(
    graph: ProgramGraph, values: ValueSets, blocks: dict[str, list[Block]], bos: Direction
) -> ResidualSpace:
    node_dirs: dict[str, tuple[Direction, ...]] = {}
    for label in graph.order:
        expr = graph.expr(label)
        if isinstance(expr, rasp.SOp):
            node_dirs[label] = node_directions(label, expr, values[label])
    owned = {d for dirs in node_dirs.values() for d in dirs}
    scratch = dict.fromkeys(
        d
        for label in graph.order
        for block in blocks.get(label, [])
        for d in (block.o_dirs if isinstance(block, HeadBlock) else block.out_dirs)
        if d not in owned
    )
    ordered = [ONE, bos, *(d for dirs in node_dirs.values() for d in dirs), *scratch]
    _refuse_duplicates(ordered)
    return ResidualSpace(tuple(ordered), node_dirs)


def _refuse_duplicates(directions: list[Direction]) -> None:
    """Every direction, and every residual label, must occur once."""
    seen: dict[str, Direction] = {}
    for d in directions:
        other = seen.setdefault(str(d), d)
        if other is d:
            continue
        raise CompileError(
            [
                (
                    d.name,
                    f"two residual directions would both be labelled {str(d)!r} ({_what(other)} "
                    f"and {_what(d)}); rename the node with .named(...) so its label differs",
                )
            ]
        )


def _what(d: Direction) -> str:
    return {
        Role.NODE: f"a value of node {d.name!r}",
        Role.INTERNAL: f"compiler-internal {d.tag!r} of {d.name!r}",
        Role.ONE: "the constant 'one' direction",
        Role.BOS: "the BOS token",
    }[d.role]
