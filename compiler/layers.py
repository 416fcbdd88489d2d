"""Pass 5: place every block in a sub-layer.

Sub-layers alternate attention (even index ``2l``) and MLP (odd index
``2l + 1``); layer ``l`` holds one of each.  Each block goes in the earliest
sub-layer of its kind after everything it reads is written (as soon as
possible), which gives the fewest layers the program's dependency chains
allow.  Blocks in one sub-layer run side by side: several heads, or one wide
MLP made of the blocks' hidden units.
"""

from __future__ import annotations

from dataclasses import dataclass

import rasp
from compiler.blocks import Block, Stage
from compiler.graph import ProgramGraph

__all__ = ["Placement", "Schedule", "schedule_blocks"]


@dataclass(frozen=True)
class Placement:
    """Where one block runs: ``sublayer`` (2l for attention, 2l+1 for MLP)."""

    block: Block
    sublayer: int

    @property
    def layer(self) -> int:
        return self.sublayer // 2


@dataclass(frozen=True)
class Schedule:
    placements: tuple[Placement, ...]
    ready: dict[str, int]  # label -> sub-layer after which it is in the stream (-1: embedded)
    num_layers: int

    def in_sublayer(self, sublayer: int) -> list[Block]:
        """The blocks of one sub-layer, in the order their weights are laid out
        (head ``i`` of an attention layer; consecutive hidden ranges of an MLP)."""
        return [p.block for p in self.placements if p.sublayer == sublayer]

    def slots(self) -> list[tuple[Placement, int, int]]:
        """Each placement with its slot: ``(placement, start, stop)`` where the slot is
        the head index (``stop = start + 1``) or the MLP hidden range."""
        out = []
        for sublayer in range(2 * self.num_layers):
            offset = 0
            for p in self.placements:
                if p.sublayer != sublayer:
                    continue
                size = 1 if p.block.stage is Stage.ATTN else p.block.hidden_size
                out.append((p, offset, offset + size))
                offset += size
        return out


def sop_inputs(graph: ProgramGraph, label: str, cache: dict[str, tuple[str, ...]]):
    """The SOps a node reads, looking through selectors to the SOps they compare."""
    if label in cache:
        return cache[label]
    found: list[str] = []
    for pred in graph.graph.predecessors(label):
        if isinstance(graph.expr(pred), rasp.Selector):
            found.extend(sop_inputs(graph, pred, cache))
        else:
            found.append(pred)
    cache[label] = tuple(dict.fromkeys(found))
    return cache[label]


def _next(after: int, stage: Stage) -> int:
    """The first sub-layer of ``stage`` strictly after sub-layer ``after``."""
    parity = 0 if stage is Stage.ATTN else 1
    s = after + 1
    return s if s % 2 == parity else s + 1


def schedule_blocks(graph: ProgramGraph, blocks: dict[str, list[Block]]) -> Schedule:
    """Place blocks as early as their inputs allow."""
    ready: dict[str, int] = {}
    placements: list[Placement] = []
    inputs_cache: dict[str, tuple[str, ...]] = {}
    for label in graph.order:
        if isinstance(graph.expr(label), rasp.Selector):
            continue
        after = max((ready[i] for i in sop_inputs(graph, label, inputs_cache)), default=-1)
        for block in blocks.get(label, []):
            after = _next(after, block.stage)
            placements.append(Placement(block, after))
        ready[label] = after
    last = max((p.sublayer for p in placements), default=-1)
    return Schedule(tuple(placements), ready, num_layers=max(1, last // 2 + 1))
