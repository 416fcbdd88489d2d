"""How the compiler finds the back end that turns compiled weights into a runnable model.

The compiler is numpy-only and names no back end: a back end is any callable
``CompiledProgram -> model`` (:class:`Backend`) registered under the entry-point
group ``raspc.backends``.  raspc's ``pyproject.toml`` registers its Haiku model as
``haiku`` (``models.compiled:CompiledModel.from_compiled``), so
:func:`compiler.compile_rasp_to_model` keeps Tracr's signature and result while
``compiler`` imports nothing from ``models``: the dependency runs one way, from the
back end to the artifact (:mod:`compiler.artifact`) it reads.
"""

from __future__ import annotations

import functools
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, Protocol

from rasp.errors import RaspcValueError

if TYPE_CHECKING:
    from compiler.compiling import CompiledProgram

__all__ = ["BACKEND_GROUP", "DEFAULT_BACKEND", "Backend", "available_backends", "load_backend"]

BACKEND_GROUP = "raspc.backends"
DEFAULT_BACKEND = "haiku"


class Backend(Protocol):
    """Builds a runnable model from everything the compiler produced."""

    def __call__(self, compiled: CompiledProgram) -> Any: ...


def available_backends() -> tuple[str, ...]:
    """The names registered under :data:`BACKEND_GROUP`, sorted."""
    return tuple(sorted({ep.name for ep in entry_points(group=BACKEND_GROUP)}))


@functools.cache
def load_backend(name: str = DEFAULT_BACKEND) -> Backend:
    """The back end registered as ``name`` (imported on first use, then cached)."""
    found = {ep.value: ep for ep in entry_points(group=BACKEND_GROUP, name=name)}
    if not found:
        raise RaspcValueError(
            f"no raspc back end {name!r} is installed (registered: "
            f"{list(available_backends()) or 'none'}); install raspc so its entry points "
            "exist: pip install -e ."
        )
    if len(found) > 1:
        raise RaspcValueError(
            f"the raspc back end {name!r} is registered {len(found)} times ({sorted(found)}); "
            "uninstall the stale copy of raspc"
        )
    (entry,) = found.values()
    try:
        return entry.load()
    except ImportError as err:
        raise RaspcValueError(
            f"the raspc back end {name!r} ({entry.value}) cannot be imported ({err}); install "
            "its dependencies: pip install -e ."
        ) from err
