"""Predicates as data: what the compiler's rewrites put into a Select.

Fusion (:mod:`compiler.fuse`) lets a Select compare a Map's input through the
Map's function, and pairing (:mod:`compiler.pairing`) lets it compare one
component of a paired value.  Both rewrites give the Select a :class:`Through`:
the original predicate seen through a function of the key and one of the
query.  Being data rather than a closure, it can be printed (the circuit map
says what a head compares) and looked into: :func:`compiler.selectors.leaf_table`
maps the key and query values through the functions and still computes a
:class:`rasp.Comparison` with numpy after the rewrite.

Every object here has a deterministic ``repr`` (no memory addresses), so reports
built from it are the same in every process.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import rasp

__all__ = ["Component", "Through", "describe"]


def describe(fn: Any) -> str:
    """A short deterministic name for a function or predicate: ``LT`` for a
    Comparison, the repr of the objects in this module, ``fn.describe()`` where it
    has one (fusion's composed chains), else the function's name."""
    if isinstance(fn, rasp.Comparison):
        return fn.name
    if isinstance(fn, (Through, Component)):
        return repr(fn)
    if callable(getattr(fn, "describe", None)):
        return fn.describe()
    return getattr(fn, "__name__", type(fn).__name__)


@dataclass(frozen=True)
class Component:
    """Component ``index`` of a paired value (a :class:`rasp.expr.Zip`'s tuple)."""

    index: int

    def __call__(self, value: Any) -> Any:
        return value[self.index]

    def __repr__(self) -> str:
        return f"[{self.index}]"


@dataclass(frozen=True)
class Through:
    """``predicate(key_fn(key), query_fn(query))``, False where a side maps to None, as a
    Select never selects a None key or query.  A side whose function is None is
    compared as it is."""

    predicate: Callable[[Any, Any], Any]
    key_fn: Callable[[Any], Any] | None = None
    query_fn: Callable[[Any], Any] | None = None

    def __call__(self, key: Any, query: Any) -> bool:
        k = key if self.key_fn is None else self.key_fn(key)
        q = query if self.query_fn is None else self.query_fn(query)
        return k is not None and q is not None and bool(self.predicate(k, q))

    def keys_of(self, keys: Sequence[Any]) -> list[Any]:
        """``keys`` as the predicate sees them (None where the function gives None or
        raises: either way the pair is not selected)."""
        return _seen(self.key_fn, keys)

    def queries_of(self, queries: Sequence[Any]) -> list[Any]:
        """``queries`` as the predicate sees them (see :meth:`keys_of`)."""
        return _seen(self.query_fn, queries)

    def __repr__(self) -> str:
        inner = describe(self.predicate)
        if isinstance(self.predicate, Through):
            inner = f"({inner})"
        return f"{inner} on ({_side('key', self.key_fn)}, {_side('query', self.query_fn)})"


def _side(name: str, fn: Callable | None) -> str:
    if fn is None:
        return name
    if isinstance(fn, Component):
        return f"{name}{fn!r}"
    return f"{describe(fn)}({name})"


def _seen(fn: Callable | None, values: Sequence[Any]) -> list[Any]:
    if fn is None:
        return list(values)
    out = []
    for v in values:
        try:
            out.append(None if v is None else fn(v))
        except Exception:  # the pair is not selected, as holds() says for a raise
            out.append(None)
    return out
