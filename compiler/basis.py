"""Named residual directions: the vocabulary every weight matrix is written in.

A :class:`Direction` is a node label plus, for categorical nodes, one of its
values.  Every row and column of every block matrix is a Direction, so the
compiled model stays readable: ``str(direction)`` is the ``label:value``
residual label that Tracr-based tools expect.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = ["Direction", "ONE", "value_sort_key", "sorted_values"]


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

    def __str__(self) -> str:
        return self.name if self.value is None else f"{self.name}:{self.value}"

    def sort_key(self) -> tuple:
        return (self.name, self.value is not None, value_sort_key(self.value))


ONE = Direction("one")
"""Holds 1 at every token position and 0 at BOS: the bias of every block."""
