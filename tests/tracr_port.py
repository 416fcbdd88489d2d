"""Tracr's own source files, loaded with Tracr's RASP and compiler swapped for raspc's.

The point of these tests is that Tracr code runs *unchanged* on raspc, so the
files are read from the installed ``tracr-pypi`` and only their import lines
are rewritten (``tracr.rasp.rasp`` becomes ``rasp``, ``tracr.compiler.compiling``
becomes ``compiler``; Tracr's ``lib`` and ``test_cases``, which build programs
with ``tracr.rasp.rasp``, are loaded the same way so they build raspc programs).
Every rewrite must match exactly once, so a changed Tracr file fails loudly
instead of silently testing Tracr against itself.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

from rasp.errors import RaspcValueError

__all__ = ["load_ported", "tracr_file"]

RASP_IMPORT = ("from tracr.rasp import rasp\n", "import rasp\n")


def tracr_file(relative: str) -> Path:
    """The path of a file inside the installed ``tracr`` package."""
    spec = importlib.util.find_spec("tracr")
    if spec is None or not spec.submodule_search_locations:
        raise RaspcValueError("tracr-pypi is not installed; pip install -e '.[test]'")
    return Path(next(iter(spec.submodule_search_locations))) / relative


def load_ported(name: str, relative: str, rewrites: list[tuple[str, str]]) -> types.ModuleType:
    """Execute Tracr's ``relative`` source as module ``name`` after ``rewrites``
    (``(old, new)`` import lines, each found exactly once).  Cached in ``sys.modules``
    so ported modules can import one another by ``name``."""
    if name in sys.modules:
        return sys.modules[name]
    path = tracr_file(relative)
    source = path.read_text()
    for old, new in rewrites:
        count = source.count(old)
        if count != 1:
            raise RaspcValueError(
                f"{path}: expected the line {old.strip()!r} once, found it {count} times; "
                "the installed Tracr changed, update tests/tracr_port.py"
            )
        source = source.replace(old, new)
    module = types.ModuleType(name)
    module.__file__ = str(path)
    sys.modules[name] = module
    try:
        exec(compile(source, str(path), "exec"), module.__dict__)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def ported_lib() -> types.ModuleType:
    """Tracr's ``compiler/lib.py`` building raspc expressions."""
    return load_ported("_tracr_ported_lib", "compiler/lib.py", [RASP_IMPORT])


def ported_test_cases() -> types.ModuleType:
    """Tracr's ``compiler/test_cases.py`` (programs, vocabularies, inputs, expected
    outputs) building raspc expressions."""
    ported_lib()
    return load_ported(
        "_tracr_ported_test_cases",
        "compiler/test_cases.py",
        [RASP_IMPORT, ("from tracr.compiler import lib\n", "import _tracr_ported_lib as lib\n")],
    )
