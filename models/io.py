"""Save and load compiled models in a safe, versioned format: no pickle.

A saved model is a directory holding

* ``params.npz``: every parameter array, keyed ``{module}/{name}`` (Haiku paths),
  written and read with ``allow_pickle=False``;
* ``model.json``: format name and version, the model config, the layout
  (residual labels, encoders, and where every node lives), and free-form
  ``extra`` metadata (e.g. a compressed model's settings).

Arrays that belong to the model but are not Haiku parameters (a compressed
model's projection) go into the same ``params.npz`` under
``extra_arrays/{name}``; :func:`load_model` leaves them out of the params and
:func:`load_extra_arrays` reads them.

The RASP program itself (Python functions) is not saved: a loaded model runs,
decodes and explains itself; pass the program to ``verify`` to re-check it.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np

from compiler.layout import ModelLayout
from compiler.weights import ModelConfig
from rasp.errors import RaspcValueError

__all__ = [
    "FORMAT",
    "VERSION",
    "save_model",
    "load_model",
    "save_arrays",
    "read_metadata",
    "load_extra_arrays",
]

FORMAT = "raspc-model"
VERSION = 1
PARAMS_FILE = "params.npz"
META_FILE = "model.json"
EXTRA_ARRAYS = "extra_arrays/"


def save_arrays(path: Path, arrays: dict[str, np.ndarray]) -> None:
    np.savez(path, **{k: np.asarray(v) for k, v in arrays.items()})


def _flatten(params: dict[str, dict[str, Any]]) -> dict[str, np.ndarray]:
    return {
        f"{module}/{name}": np.asarray(a) for module, p in params.items() for name, a in p.items()
    }


def _unflatten(arrays: dict[str, np.ndarray]) -> dict[str, dict[str, np.ndarray]]:
    params: dict[str, dict[str, np.ndarray]] = {}
    for key, value in arrays.items():
        module, _, name = key.rpartition("/")
        params.setdefault(module, {})[name] = value
    return params


def save_model(
    model: Any,
    path: str | Path,
    extra: dict[str, Any] | None = None,
    arrays: dict[str, Any] | None = None,
) -> Path:
    """Write ``model`` to the directory ``path`` (created if needed); returns it.

    ``arrays`` (name -> array) are stored next to the params, under
    ``extra_arrays/{name}``, for data that must stay numeric and pickle-free.
    """
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    flat = _flatten(model.params)
    flat.update({EXTRA_ARRAYS + name: np.asarray(a) for name, a in (arrays or {}).items()})
    save_arrays(path / PARAMS_FILE, flat)
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "config": dataclasses.asdict(model.model_config),
        "layout": model.layout.to_json(),
        "program": getattr(model.program, "label", None),
        "extra": extra or {},
    }
    (path / META_FILE).write_text(json.dumps(meta, indent=1))
    return path


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The checked ``model.json`` of a saved model."""
    path = Path(path)
    meta_path = path / META_FILE
    if not meta_path.is_file():
        raise RaspcValueError(
            f"{path} is not a saved raspc model: {META_FILE} is missing; save one with "
            "models.save_model(model, path)"
        )
    meta = json.loads(meta_path.read_text())
    if meta.get("format") != FORMAT:
        raise RaspcValueError(f"{meta_path}: format {meta.get('format')!r}, expected {FORMAT!r}")
    if meta.get("version") != VERSION:
        raise RaspcValueError(
            f"{meta_path}: format version {meta.get('version')!r}, this raspc reads version "
            f"{VERSION}; re-save the model with this raspc"
        )
    return meta


def load_arrays(path: str | Path) -> dict[str, np.ndarray]:
    with np.load(Path(path) / PARAMS_FILE, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def load_extra_arrays(path: str | Path) -> dict[str, np.ndarray]:
    """The ``arrays`` passed to :func:`save_model` (empty when there were none)."""
    return {
        key[len(EXTRA_ARRAYS) :]: value
        for key, value in load_arrays(path).items()
        if key.startswith(EXTRA_ARRAYS)
    }


def load_model(path: str | Path) -> Any:
    """A :class:`models.compiled.CompiledModel` read from ``path`` (program not attached)."""
    from models.compiled import CompiledModel

    meta = read_metadata(path)
    arrays = {k: v for k, v in load_arrays(path).items() if not k.startswith(EXTRA_ARRAYS)}
    return CompiledModel(
        params=_unflatten(arrays),
        model_config=ModelConfig(**meta["config"]),
        layout=ModelLayout.from_json(meta["layout"]),
    )
