"""Save and load compiled models in a safe, versioned format: no pickle.

A saved model is a directory holding

* ``params.npz``: every parameter array, keyed ``{module}/{name}`` (the artifact's
  ``param_path`` and array name, :mod:`compiler.artifact`), written and read with
  ``allow_pickle=False``;
* ``model.json``: format name and version, the model config, the layout
  (residual labels, encoders, and where every node lives), and free-form
  ``extra`` metadata (e.g. a compressed model's settings).

Arrays that belong to the model but are not Haiku parameters (a compressed
model's projection) go into the same ``params.npz`` under
``extra_arrays/{name}``; :func:`load_model` leaves them out of the params and
:func:`load_extra_arrays` reads them.

Loading trusts nothing on disk: a model folder may be truncated, hand-edited or
written by another version.  :func:`load_model` checks the format and version,
every config field (names and types), the layout against the config (widths,
heads, layers, vocabulary), and every array's name, shape and dtype against the
shapes the config implies, so a bad folder is refused with a
:class:`~rasp.errors.ModelFileError` naming the file and the field, instead of
loading and failing later inside a matmul.

The RASP program itself (Python functions) is not saved: a loaded model runs,
decodes and explains itself; pass the program to ``verify`` to re-check it.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np

from compiler.artifact import ModelConfig, ModelLayout, param_shapes
from rasp.errors import ModelFileError, RaspcError

__all__ = [
    "FORMAT",
    "VERSION",
    "save_model",
    "load_model",
    "save_arrays",
    "read_metadata",
    "load_arrays",
    "load_extra_arrays",
    "expected_param_shapes",
]

FORMAT = "raspc-model"
VERSION = 1
PARAMS_FILE = "params.npz"
META_FILE = "model.json"
EXTRA_ARRAYS = "extra_arrays/"
PARAM_DTYPE = np.dtype(np.float32)
META_KEYS = {"format", "version", "config", "layout", "program", "extra"}
REQUIRED_META_KEYS = ("format", "version", "config", "layout")
LAYOUT_KEYS = (
    "output",
    "nodes",
    "residual_labels",
    "vocab",
    "max_seq_len",
    "causal",
    "bos",
    "pad",
    "input_encoding",
)
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a zip with members, an empty zip
_POSITIVE = {"d_model", "max_seq_len", "vocab_size"}  # config ints that cannot be 0
_CONFIG_TYPES = {"int": int, "bool": bool, "float": float, "str": str}


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
        # the output's label within the program (structural: the same on every compile)
        "program": model.layout.output if model.program is not None else None,
        "extra": extra or {},
    }
    (path / META_FILE).write_text(json.dumps(meta, indent=1))
    return path


# ---------------------------------------------------------------- reading model.json


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The checked ``model.json`` of a saved model: valid JSON, this format and version,
    no unknown or missing top-level fields."""
    path = Path(path)
    meta_path = path / META_FILE
    if not meta_path.is_file():
        raise ModelFileError(
            f"{path} is not a saved raspc model: {META_FILE} is missing; save one with "
            "models.save_model(model, path) or `raspc compile ... -o DIR`"
        )
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as err:
        raise ModelFileError(
            f"{meta_path}: not UTF-8 text ({err.reason}); re-save the model"
        ) from None
    except json.JSONDecodeError as err:
        raise ModelFileError(
            f"{meta_path}: not valid JSON ({err.msg} at line {err.lineno} column {err.colno}); "
            "the file is corrupted or truncated: re-save the model"
        ) from None
    if not isinstance(meta, dict):
        raise ModelFileError(
            f"{meta_path}: expected a JSON object, found {type(meta).__name__}; re-save the model"
        )
    if meta.get("format") != FORMAT:
        raise ModelFileError(
            f"{meta_path}: field 'format' is {meta.get('format')!r}, expected {FORMAT!r}"
        )
    if meta.get("version") != VERSION:
        raise ModelFileError(
            f"{meta_path}: field 'version' is {meta.get('version')!r}, this raspc reads "
            f"version {VERSION}; re-save the model with this raspc"
        )
    unknown = sorted(set(meta) - META_KEYS)
    if unknown:
        raise ModelFileError(
            f"{meta_path}: unknown fields {unknown}; a version-{VERSION} model has "
            f"{sorted(META_KEYS)}"
        )
    missing = [key for key in REQUIRED_META_KEYS if key not in meta]
    if missing:
        raise ModelFileError(f"{meta_path}: missing fields {missing}; re-save the model")
    if not isinstance(meta.get("extra", {}), dict):
        raise ModelFileError(f"{meta_path}: field 'extra' must be a JSON object")
    return meta


def _config(meta_path: Path, data: Any) -> ModelConfig:
    """``ModelConfig`` from the ``config`` field, every key and type checked."""
    where = f"{meta_path}: field 'config'"
    field = f"{meta_path}: field 'config.{{}}'"
    if not isinstance(data, dict):
        raise ModelFileError(f"{where} must be a JSON object, found {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(ModelConfig)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ModelFileError(f"{where} has unknown keys {unknown}; expected {sorted(fields)}")
    required = [n for n, f in fields.items() if f.default is dataclasses.MISSING]
    missing = [name for name in required if name not in data]
    if missing:
        raise ModelFileError(f"{where} is missing keys {missing}")
    for name, value in data.items():
        hint = fields[name].type
        kind = _CONFIG_TYPES[hint if isinstance(hint, str) else hint.__name__]
        ok = isinstance(value, kind) and (kind is bool or not isinstance(value, bool))
        if kind is float:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not ok:
            raise ModelFileError(
                f"{field.format(name)} must be {kind.__name__}, found {value!r} "
                f"({type(value).__name__})"
            )
        if kind is int and value < (1 if name in _POSITIVE else 0):
            least = "positive" if name in _POSITIVE else "at least 0"
            raise ModelFileError(f"{field.format(name)} must be {least}, found {value}")
    return ModelConfig(**data)


def _layout(meta_path: Path, data: Any) -> ModelLayout:
    where = f"{meta_path}: field 'layout'"
    if not isinstance(data, dict):
        raise ModelFileError(f"{where} must be a JSON object, found {type(data).__name__}")
    missing = [key for key in LAYOUT_KEYS if key not in data]
    if missing:
        raise ModelFileError(f"{where} is missing keys {missing}")
    try:
        return ModelLayout.from_json(data)
    except (RaspcError, KeyError, TypeError, ValueError, AttributeError) as err:
        detail = f"missing key {err}" if isinstance(err, KeyError) else str(err)
        raise ModelFileError(f"{where} is malformed ({type(err).__name__}: {detail})") from None


def _check_layout(meta_path: Path, layout: ModelLayout, cfg: ModelConfig) -> None:
    """The layout must describe a model of exactly the config's shape."""
    where = f"{meta_path}: field 'layout'"
    problems = []
    if len(layout.residual_labels) != cfg.d_model:
        problems.append(
            f"residual_labels has {len(layout.residual_labels)} labels, config d_model is "
            f"{cfg.d_model}"
        )
    if layout.max_seq_len != cfg.max_seq_len:
        problems.append(f"max_seq_len {layout.max_seq_len}, config says {cfg.max_seq_len}")
    if layout.causal is not cfg.causal:
        problems.append(f"causal {layout.causal}, config says {cfg.causal}")
    codes = list(layout.input_encoding.values())
    if not all(type(i) is int for i in codes) or sorted(codes) != list(range(cfg.vocab_size)):
        problems.append(
            f"input_encoding has ids {codes}, expected 0..{cfg.vocab_size - 1} (config "
            "vocab_size) once each"
        )
    expected_tokens = {*layout.vocab, layout.bos, layout.pad}
    if set(layout.input_encoding) != expected_tokens:
        problems.append("input_encoding does not cover exactly the vocab, BOS and PAD")
    if layout.output not in layout.nodes:
        problems.append(f"output {layout.output!r} is not one of its nodes")
    for node in layout.nodes.values():
        problems += [f"node {node.label!r}: {p}" for p in _node_problems(node, layout, cfg)]
    if problems:
        raise ModelFileError(f"{where} does not match the config: " + "; ".join(problems[:5]))


def _node_problems(node: Any, layout: ModelLayout, cfg: ModelConfig) -> list[str]:
    out = []
    if node.encoding not in ("categorical", "numerical"):
        out.append(f"encoding {node.encoding!r}, expected categorical or numerical")
    if node.encoding == "categorical" and len(node.values) != len(node.residual):
        out.append(f"{len(node.values)} values but {len(node.residual)} residual directions")
    if node.encoding == "numerical" and len(node.residual) > 1:
        out.append(f"numerical with {len(node.residual)} residual directions, expected 1")
    bad = [i for i in (*node.residual, *node.scratch) if not 0 <= i < cfg.d_model]
    if bad:
        out.append(f"residual indices {bad} outside 0..{cfg.d_model - 1}")
    if not -1 <= node.ready < 2 * cfg.num_layers:
        out.append(f"ready {node.ready} outside -1..{2 * cfg.num_layers - 1}")
    for c in node.components:
        limit = cfg.num_heads if c.kind == "attn" else cfg.mlp_hidden_size
        if c.kind not in ("attn", "mlp") or not 0 <= c.layer < cfg.num_layers:
            out.append(f"component {c} is not in a layer of this model")
        elif not 0 <= c.start < c.stop <= limit:
            out.append(f"component {c.name} outside 0..{limit}")
    missing = [label for label in node.reads if label not in layout.nodes]
    if missing:
        out.append(f"reads unknown nodes {missing}")
    return out


# ---------------------------------------------------------------- reading params.npz


def expected_param_shapes(cfg: ModelConfig) -> dict[str, tuple[int, ...]]:
    """Every parameter a compiled model of ``cfg`` has, ``{module}/{name}`` -> shape
    (the artifact's :func:`compiler.artifact.param_shapes`, flattened as on disk)."""
    return {
        f"{module}/{name}": shape
        for module, arrays in param_shapes(cfg).items()
        for name, shape in arrays.items()
    }


def load_arrays(path: str | Path) -> dict[str, np.ndarray]:
    """Every array of ``params.npz`` (no pickle); a missing, truncated or non-npz file is
    a :class:`ModelFileError`."""
    file = Path(path) / PARAMS_FILE
    if not file.is_file():
        raise ModelFileError(
            f"{file} is missing; a saved model holds {PARAMS_FILE} next to {META_FILE}"
        )
    with file.open("rb") as handle:
        magic = handle.read(4)
    if magic not in _ZIP_MAGIC:
        raise ModelFileError(
            f"{file}: not an npz (zip) archive (it starts with {magic!r}); the file is "
            "corrupted or was replaced: re-save the model"
        )
    try:
        data = np.load(file, allow_pickle=False)
        if not isinstance(data, np.lib.npyio.NpzFile):  # a bare .npy array
            raise ModelFileError(f"{file}: a single array, not an npz archive of params")
        with data:
            return {k: data[k] for k in data.files}
    except ModelFileError:
        raise
    except Exception as err:  # BadZipFile, EOFError, zlib.error, pickle refusal, ...
        raise ModelFileError(
            f"{file}: cannot read it as an npz archive ({type(err).__name__}: {err}); the "
            "file is corrupted or truncated: re-save the model"
        ) from None


def _check_params(file: Path, arrays: dict[str, np.ndarray], cfg: ModelConfig) -> None:
    expected = expected_param_shapes(cfg)
    missing = sorted(set(expected) - set(arrays))
    unknown = sorted(set(arrays) - set(expected))
    if missing:
        raise ModelFileError(f"{file}: missing arrays {missing[:5]} (config {cfg})")
    if unknown:
        raise ModelFileError(f"{file}: unknown arrays {unknown[:5]} for this config")
    for key, shape in expected.items():
        array = arrays[key]
        if array.shape != shape:
            raise ModelFileError(
                f"{file}: array {key!r} has shape {array.shape}, the config implies {shape}"
            )
        if array.dtype != PARAM_DTYPE:
            raise ModelFileError(f"{file}: array {key!r} has dtype {array.dtype}, expected float32")
        if not np.isfinite(array).all():
            raise ModelFileError(f"{file}: array {key!r} holds inf or nan")


def load_extra_arrays(path: str | Path) -> dict[str, np.ndarray]:
    """The ``arrays`` passed to :func:`save_model` (empty when there were none)."""
    return {
        key[len(EXTRA_ARRAYS) :]: value
        for key, value in load_arrays(path).items()
        if key.startswith(EXTRA_ARRAYS)
    }


def load_model(path: str | Path) -> Any:
    """A :class:`models.compiled.CompiledModel` read from ``path`` (program not attached).

    Raises :class:`~rasp.errors.ModelFileError` (a ``ValueError``) naming the file and the
    field when anything on disk is missing, corrupted or inconsistent with the config.
    """
    from models.compiled import CompiledModel

    path = Path(path)
    meta = read_metadata(path)
    meta_path = path / META_FILE
    cfg = _config(meta_path, meta["config"])
    layout = _layout(meta_path, meta["layout"])
    _check_layout(meta_path, layout, cfg)
    arrays = {k: v for k, v in load_arrays(path).items() if not k.startswith(EXTRA_ARRAYS)}
    _check_params(path / PARAMS_FILE, arrays, cfg)
    return CompiledModel(params=_unflatten(arrays), model_config=cfg, layout=layout)
