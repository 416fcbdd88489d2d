"""Named residual directions: the vocabulary every weight matrix is written in.

A :class:`Direction` is a node label plus, for categorical nodes, one of its
values.  Every row and column of every block matrix is a Direction, so the
compiled model stays readable: ``str(direction)`` is the ``label:value``
residual label that Tracr-based tools expect.

Every direction also carries a :class:`Role`.  A program node's directions are
named by its label; the compiler's own directions (an Aggregate's "anything
selected" flag, a SelectorWidth's scratch, a SequenceMap's gates) are
:data:`Role.INTERNAL` and print as ``label#tag``.  User labels never contain
``#`` (validation refuses such names), so an internal direction can never print
like a user's, and residual allocation refuses any two directions that print
alike instead of merging them.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Direction",
    "ONE",
    "INTERNAL_MARK",
    "Role",
    "internal",
    "value_sort_key",
    "sorted_values",
]

INTERNAL_MARK = "#"
"""Separates a node label from the tag of a compiler-internal direction; no user label
may contain it."""


class Role(enum.Enum):
    """What a residual direction holds."""

    NODE = "node"  # a value of a program node (the user's, or a compiler-internal node)
    INTERNAL = "internal"  # compiler scratch owned by a node: flags, gates, widths
    ONE = "one"  # 1 at every token position, 0 at BOS
    BOS = "bos"  # the beginning-of-sequence token


def value_sort_key(value: Any) -> tuple:
    """A total order over mixed values: numbers, then strings, then the rest by repr."""
    if isinstance(value, (bool, int, float)):
        return (0, float(value), type(value).__name__)
    if isinstance(value, str):
        return (1, 0.0, value)
    return (2, 0.0, repr(value))


def sorted_values(values: Iterable[Any]) -> tuple[Any, ...]:
    """Values in the deterministic order used for directions and encoders."""
    return tuple(sorted(values, key=value_sort_key))


@dataclass(frozen=True)
class Direction:
    """One basis direction of the residual stream (or of a hidden layer).

    ``value`` is None for a numerical node (the direction holds the value) and
    for the special directions.
    """

    name: str
    value: Any = None
    role: Role = Role.NODE
    tag: str | None = None  # what an internal direction is for ("selected_any", ...)

    def __post_init__(self) -> None:
        if (self.role is Role.INTERNAL) != (self.tag is not None):
            raise ValueError(f"direction {self.name!r}: a tag is required exactly for internals")

    def __str__(self) -> str:
        name = self.name if self.tag is None else f"{self.name}{INTERNAL_MARK}{self.tag}"
        return name if self.value is None else f"{name}:{self.value}"

    def sort_key(self) -> tuple:
        return (self.name, self.tag or "", self.value is not None, value_sort_key(self.value))


def internal(label: str, tag: str, value: Any = None) -> Direction:
    """A compiler-internal direction owned by node ``label`` (prints ``label#tag``)."""
    return Direction(label, value, Role.INTERNAL, tag)


ONE = Direction("one", role=Role.ONE)
"""Holds 1 at every token position and 0 at BOS: the bias of every block."""
