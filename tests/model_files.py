"""Ways a saved model folder goes bad on disk, shared by the loader and CLI tests.

Each corruption edits a copy of a good folder in place; ``match`` is a fragment the
refusal must contain (the file, and the field where there is one).
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np


def _meta(folder: Path) -> dict:
    return json.loads((folder / "model.json").read_text())


def _write_meta(folder: Path, meta: dict) -> None:
    (folder / "model.json").write_text(json.dumps(meta))


def _edit_meta(edit: Callable[[dict], None]) -> Callable[[Path], None]:
    def apply(folder: Path) -> None:
        meta = _meta(folder)
        edit(meta)
        _write_meta(folder, meta)

    return apply


def _arrays(folder: Path) -> dict[str, np.ndarray]:
    with np.load(folder / "params.npz", allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def _edit_arrays(edit: Callable[[dict], None]) -> Callable[[Path], None]:
    def apply(folder: Path) -> None:
        arrays = _arrays(folder)
        edit(arrays)
        np.savez(folder / "params.npz", **arrays)

    return apply


def _truncate(name: str, keep: float) -> Callable[[Path], None]:
    def apply(folder: Path) -> None:
        data = (folder / name).read_bytes()
        (folder / name).write_bytes(data[: int(len(data) * keep)])

    return apply


def _replace(name: str, content: bytes) -> Callable[[Path], None]:
    return lambda folder: (folder / name).write_bytes(content)


def _remove(name: str) -> Callable[[Path], None]:
    return lambda folder: (folder / name).unlink()


def _pickled_params(folder: Path) -> None:
    np.save(folder / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with zipfile.ZipFile(folder / "params.npz", "w") as archive:
        archive.write(folder / "obj.npy", "token_embed/embeddings.npy")


def _first(key: str) -> str:
    return "token_embed/embeddings" if key == "embed" else "transformer/layer_0/attn/query/w"


def _set(meta: dict, path: tuple, value: object) -> None:
    target = meta
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value


def _drop(meta: dict, path: tuple) -> None:
    target = meta
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]


@dataclass(frozen=True)
class Corruption:
    name: str
    apply: Callable[[Path], None]
    match: str


CORRUPTIONS = [
    Corruption("truncated_npz", _truncate("params.npz", 0.5), "params.npz"),
    Corruption("non_zip_npz", _replace("params.npz", b"not a zip file\n" * 20), "params.npz"),
    Corruption("empty_npz", _replace("params.npz", b""), "params.npz"),
    Corruption("pickled_npz", _pickled_params, "params.npz"),
    Corruption("missing_npz", _remove("params.npz"), "params.npz is missing"),
    Corruption("missing_json", _remove("model.json"), "model.json is missing"),
    Corruption("truncated_json", _truncate("model.json", 0.5), "not valid JSON"),
    Corruption("binary_json", _replace("model.json", b"\xff\xfe\x00garbage"), "model.json"),
    Corruption("json_list", _replace("model.json", b"[1, 2]"), "expected a JSON object"),
    Corruption("wrong_format", _edit_meta(lambda m: _set(m, ("format",), "x")), "'format'"),
    Corruption("wrong_version", _edit_meta(lambda m: _set(m, ("version",), 99)), "'version'"),
    Corruption(
        "unknown_top_key", _edit_meta(lambda m: _set(m, ("surprise",), 1)), "unknown fields"
    ),
    Corruption("missing_layout", _edit_meta(lambda m: _drop(m, ("layout",))), "'layout'"),
    Corruption(
        "config_unknown_key",
        _edit_meta(lambda m: _set(m, ("config", "__class__"), "ModelConfig")),
        "'config' has unknown keys ['__class__']",
    ),
    Corruption(
        "config_missing_key",
        _edit_meta(lambda m: _drop(m, ("config", "d_model"))),
        "'config' is missing keys ['d_model']",
    ),
    Corruption(
        "config_wrong_type",
        _edit_meta(lambda m: _set(m, ("config", "num_heads"), "1")),
        "'config.num_heads' must be int",
    ),
    Corruption(
        "config_bool_for_int",
        _edit_meta(lambda m: _set(m, ("config", "d_model"), True)),
        "'config.d_model' must be int",
    ),
    Corruption(
        "config_negative",
        _edit_meta(lambda m: _set(m, ("config", "num_layers"), -1)),
        "'config.num_layers' must be at least 0",
    ),
    Corruption(
        "config_not_object", _edit_meta(lambda m: _set(m, ("config",), [1])), "'config' must be"
    ),
    Corruption(
        "layout_missing_key",
        _edit_meta(lambda m: _drop(m, ("layout", "vocab"))),
        "'layout' is missing keys ['vocab']",
    ),
    Corruption(
        "layout_malformed_node",
        _edit_meta(lambda m: _set(m, ("layout", "nodes"), [{"label": "x"}])),
        "'layout' is malformed",
    ),
    Corruption(
        "layout_bad_value",
        _edit_meta(lambda m: _set(m, ("layout", "vocab"), [[1, 2]])),
        "'layout' is malformed",
    ),
    Corruption(
        "layout_narrower_than_config",
        _edit_meta(lambda m: m["layout"]["residual_labels"].pop()),
        "d_model",
    ),
    Corruption(
        "layout_index_outside",
        _edit_meta(lambda m: _set(m, ("layout", "nodes", 0, "residual"), [10_000])),
        "residual indices [10000]",
    ),
    Corruption(
        "layout_head_outside",
        _edit_meta(lambda m: m["layout"]["nodes"][-1]["components"].append(["attn", 0, 7, 8])),
        "L0H7",
    ),
    Corruption(
        "layout_unknown_output",
        _edit_meta(lambda m: _set(m, ("layout", "output"), "nobody")),
        "output 'nobody'",
    ),
    Corruption(
        "wrong_shape_array",
        _edit_arrays(lambda a: a.__setitem__(_first("attn"), a[_first("attn")][:, :-1])),
        "has shape",
    ),
    Corruption(
        "wrong_dtype_array",
        _edit_arrays(lambda a: a.__setitem__(_first("embed"), a[_first("embed")].astype(float))),
        "dtype float64",
    ),
    Corruption(
        "int_array",
        _edit_arrays(lambda a: a.__setitem__(_first("embed"), a[_first("embed")].astype(int))),
        "expected float32",
    ),
    Corruption(
        "nan_array",
        _edit_arrays(lambda a: a[_first("embed")].__setitem__((0, 0), np.nan)),
        "inf or nan",
    ),
    Corruption("missing_array", _edit_arrays(lambda a: a.pop(_first("attn"))), "missing arrays"),
    Corruption(
        "unknown_array",
        _edit_arrays(lambda a: a.__setitem__("transformer/layer_9/mlp/x", np.zeros(2))),
        "unknown arrays",
    ),
]
