"""The import graph: ``compiler/`` never imports ``models`` (the back end).

The compiler's result is plain data (``compiler.artifact``); the back end is found
through an entry point (``compiler.backend``), so no compiler module needs ``models``
at module level, inside a function, under ``TYPE_CHECKING``, or through
``importlib``/``__import__`` with a ``"models..."`` string.  These tests read every
module's source (AST), so a lazy import that a test run never reaches still fails.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import compiler
import rasp
from compiler import artifact, backend
from rasp.errors import RaspcValueError

ROOT = Path(__file__).resolve().parent.parent
COMPILER_FILES = sorted((ROOT / "compiler").rglob("*.py"))
FORBIDDEN = "models"
DYNAMIC_IMPORTERS = {"import_module", "__import__", "find_spec", "import_from_string"}


def _is_forbidden(module: str | None) -> bool:
    return module is not None and (module == FORBIDDEN or module.startswith(FORBIDDEN + "."))


def _dynamic_target(call: ast.Call) -> str | None:
    """The string a call like ``importlib.import_module("models.x")`` imports, if any."""
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    if name not in DYNAMIC_IMPORTERS or not call.args:
        return None
    first = call.args[0]
    if isinstance(first, ast.Constant) and isinstance(first.value, str):
        return first.value
    return None


def model_imports(source: str, filename: str = "<source>") -> list[str]:
    """Every import of ``models`` in ``source``, as ``line: what`` strings."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            found += [
                f"{node.lineno}: import {a.name}" for a in node.names if _is_forbidden(a.name)
            ]
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and _is_forbidden(node.module):
                found.append(f"{node.lineno}: from {node.module} import ...")
        elif isinstance(node, ast.Call):
            target = _dynamic_target(node)
            if _is_forbidden(target):
                found.append(f"{node.lineno}: dynamic import of {target!r}")
    return found


def test_the_compiler_package_has_modules_to_check():
    names = {p.relative_to(ROOT / "compiler").as_posix() for p in COMPILER_FILES}
    assert {"__init__.py", "artifact.py", "backend.py", "compiling.py", "layout.py"} <= names


@pytest.mark.parametrize("path", COMPILER_FILES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_compiler_module_imports_nothing_from_models(path):
    found = model_imports(path.read_text(), str(path))
    assert not found, f"{path.relative_to(ROOT)} imports the back end: {found}"


@pytest.mark.parametrize(
    "source",
    [
        "import models",
        "import models.compiled as mc",
        "from models.compiled import CompiledModel",
        "def f():\n    from models import verify\n",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from models import x\n",
        "import importlib\nimportlib.import_module('models.compiled')",
        "m = __import__('models')",
    ],
)
def test_the_checker_catches_every_kind_of_import(source):
    assert model_imports(source), source


@pytest.mark.parametrize(
    "source",
    ["import modelsx", "from compiler import models_of", "x = 'models'", "from . import models"],
)
def test_the_checker_leaves_other_names_alone(source):
    assert not model_imports(source), source


def test_import_compiler_loads_no_back_end():
    code = (
        "import sys, compiler, compiler.artifact, compiler.backend, compiler.circuit, "
        "compiler.edges\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in {'models', 'jax', 'haiku'})\n"
        "print(heavy)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]", out.stdout


def test_compile_rasp_to_model_finds_the_haiku_back_end_by_entry_point():
    assert "haiku" in backend.available_backends()
    build = backend.load_backend("haiku")
    assert getattr(build, "__qualname__", "") == "CompiledModel.from_compiled"
    model = compiler.compile_rasp_to_model(rasp.tokens + 1, {1, 2}, 3)
    assert type(model).__module__ == "models.compiled"
    assert model.apply(["compiler_bos", 2, 1]).decoded == ["compiler_bos", 3, 2]


def test_a_missing_back_end_is_one_line_naming_how_to_install():
    with pytest.raises(RaspcValueError) as info:
        backend.load_backend("no-such-backend")
    message = str(info.value)
    assert "no raspc back end 'no-such-backend'" in message
    assert "pip install" in message and "\n" not in message


def test_param_paths_and_hook_names_round_trip():
    assert artifact.param_path(artifact.ParamModule.QUERY, 2) == "transformer/layer_2/attn/query"
    assert artifact.param_path(artifact.ParamModule.TOKEN_EMBED) == "token_embed"
    for name in artifact.hook_names(3):
        point, layer = artifact.parse_hook(name)
        assert artifact.hook_name(point, layer) == name
    for sublayer in range(-1, 6):
        assert artifact.hook_sublayer(artifact.resid_hook(sublayer), 3) == sublayer


def test_compiled_params_are_exactly_the_artifacts_paths_and_shapes():
    compiled = compiler.compile_rasp(
        rasp.numerical(rasp.Map(lambda x: x / 2, rasp.tokens)), {1, 2, 4}, 3
    )
    expected = artifact.param_shapes(compiled.config)
    assert list(compiled.params) == list(expected)
    for path, arrays in expected.items():
        assert {n: a.shape for n, a in compiled.params[path].items()} == arrays


def test_the_layout_carries_a_numerical_nodes_value_set():
    program = rasp.numerical(rasp.Map(lambda x: x / 2, rasp.tokens))
    layout = compiler.compile_rasp(program, {1, 2, 4}, 3).layout
    node = layout.output_node
    assert node.encoding is artifact.Encoding.NUMERICAL
    assert node.numbers == (0.5, 1.0, 2.0)
    again = artifact.ModelLayout.from_json(layout.to_json())
    assert again.output_node.value_set == node.value_set
    assert again.output_node.encoding is artifact.Encoding.NUMERICAL


def compiler_imports(source: str) -> set[str]:
    """Every ``compiler`` module ``source`` imports (static imports, any depth)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return {m for m in found if m == "compiler" or m.startswith("compiler.")}


@pytest.mark.parametrize(
    "path",
    sorted((ROOT / "models" / "compression").glob("*.py")),
    ids=lambda p: p.name,
)
def test_compression_reads_the_artifact_and_runs_no_compiler_pass(path):
    assert compiler_imports(path.read_text()) <= {"compiler.artifact"}


def test_a_layout_saved_before_value_sets_loads_with_unknown_sets():
    layout = compiler.compile_rasp(rasp.tokens + 1, {1, 2}, 3).layout
    data = layout.to_json()
    for node in data["nodes"]:
        del node["value_set"]
    old = artifact.ModelLayout.from_json(data)
    assert all(n.value_set is None for n in old.nodes.values())
    assert old.output_node.values == layout.output_node.values == (2, 3)
