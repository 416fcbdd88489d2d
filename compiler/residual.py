"""Pass 6: the residual stream's basis.

Every value that must live in the stream gets its own labelled direction, in a
deterministic order: ``one``, the BOS token, then each SOp's directions in the
program's dependency order (values sorted), then the SelectorWidth scratch
directions.  The length of the result is the model width ``d_model``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import rasp
from compiler.basis import ONE, Direction
from compiler.blocks import Block, HeadBlock, node_directions
from compiler.graph import ProgramGraph
from compiler.values import ValueSets

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
    scratch = [
        d
        for label in graph.order
        for block in blocks.get(label, [])
        for d in (block.o_dirs if isinstance(block, HeadBlock) else block.out_dirs)
        if d not in owned
    ]
    ordered = [ONE, bos, *(d for dirs in node_dirs.values() for d in dirs), *scratch]
    return ResidualSpace(tuple(dict.fromkeys(ordered)), node_dirs)
