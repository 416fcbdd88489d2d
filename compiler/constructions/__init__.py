"""One module per construction: how a node becomes blocks, planned before it is built.

Every public module here defines ``CONSTRUCTION``
(:class:`~compiler.constructions._base.Construction`): the node types it handles,
its rank among the constructions for those types, and its ``plan`` function.  The
package finds the modules itself, so adding a construction touches one file: write
``compiler/constructions/<name>.py`` with its ``CONSTRUCTION``.  Modules whose names
start with ``_`` are shared machinery, not constructions: the plan and block types
(``_base``), the staircase (``_staircase``) and attention scores (``_attention``).

Which construction a node gets is the lowest-ranked one whose ``plan`` applies (does
not answer None); e.g. a SequenceMap tries, in order, the linear combination, the
numerical and gated staircases, the diagonal lookup, the separable staircase and the
pair table (which always applies).  The chosen :class:`Plan` carries the exact hidden
size, the float32 error estimate and the problems; :mod:`compiler.blocks` collects the
plans of the whole graph and builds blocks only once no node has a problem.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import MappingProxyType

from compiler.constructions._base import (
    MAX_TABLE,
    SOFTMAX_BETA,
    Block,
    Construction,
    Context,
    HeadBlock,
    MLPBlock,
    MLPUnits,
    Plan,
    Stage,
    size_problem,
)

__all__ = [
    "BY_TYPE",
    "CONSTRUCTIONS",
    "MAX_TABLE",
    "SOFTMAX_BETA",
    "Block",
    "Construction",
    "Context",
    "HeadBlock",
    "MLPBlock",
    "MLPUnits",
    "Plan",
    "Stage",
    "size_problem",
]


def _discover() -> tuple[Construction, ...]:
    """Every construction module's ``CONSTRUCTION``, by module name (deterministic)."""
    found = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        found.append(module.CONSTRUCTION)
    return tuple(found)


CONSTRUCTIONS: tuple[Construction, ...] = _discover()
"""Every construction raspc knows."""


def _by_type() -> MappingProxyType:
    types = dict.fromkeys(t for c in CONSTRUCTIONS for t in c.handles)
    return MappingProxyType(
        {
            t: tuple(sorted((c for c in CONSTRUCTIONS if t in c.handles), key=lambda c: c.rank))
            for t in types
        }
    )


BY_TYPE: MappingProxyType = _by_type()
"""Node type -> its constructions, in the order they are tried."""
