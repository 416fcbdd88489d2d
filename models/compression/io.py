"""Saving and loading compressed models: the compiled model's directory plus the
projection as extra arrays and the settings and history as ``extra`` metadata."""

from __future__ import annotations

from pathlib import Path

import rasp
from compiler.artifact import decode_value, encode_value
from models.compression.model import CompressedModel
from models.compression.settings import CompressionSettings
from models.compression.training import TrainingHistory
from rasp.errors import RaspcValueError

__all__ = ["load_compressed", "save_compressed"]

_FORMAT_KEY = "compressed"  # key of the compressed model's settings in saved ``extra``


def save_compressed(model: CompressedModel, path: str | Path) -> Path:
    """Save ``model`` as a raspc model directory (npz + json, no pickle): the compiled
    model as :func:`models.save_model` writes it, the projection as extra arrays and
    the settings and training history as ``extra`` metadata.  ``models.load_model``
    reads the same directory back as the uncompressed model."""
    from models.io import save_model

    meta = {
        "d": model.d,
        "mode": model.mode,
        "tied": model.tied,
        "output_values": None
        if model.output_values is None
        else [encode_value(v) for v in model.output_values],
        "settings": None if model.settings is None else model.settings.to_json(),
        "history": None if model.history is None else model.history.to_json(),
    }
    arrays = {"write": model.write}
    if not model.tied:
        arrays["read"] = model.read
    return save_model(model.base, path, extra={_FORMAT_KEY: meta}, arrays=arrays)


def load_compressed(path: str | Path, program: rasp.SOp | None = None) -> CompressedModel:
    """A :class:`CompressedModel` saved by :func:`save_compressed`; attach ``program``
    to evaluate or retrain it."""
    from models.io import load_extra_arrays, load_model, read_metadata

    meta = read_metadata(path)["extra"].get(_FORMAT_KEY)
    if meta is None:
        raise RaspcValueError(
            f"{path} holds a compiled model, not a compressed one (no {_FORMAT_KEY!r} entry in "
            "its extra metadata); load it with models.load_model, or save a compressed model "
            "with models.save_compressed"
        )
    base = load_model(path)
    if program is not None:
        base.program = program
    arrays = load_extra_arrays(path)
    write = arrays["write"]
    read = write.T[None] if meta["tied"] else arrays["read"]
    values, history, settings = meta["output_values"], meta["history"], meta["settings"]
    return CompressedModel(
        base=base,
        write=write,
        read=read,
        mode=meta["mode"],
        tied=meta["tied"],
        output_values=None if values is None else tuple(decode_value(v) for v in values),
        settings=None if settings is None else CompressionSettings.from_json(settings),
        history=None if history is None else TrainingHistory.from_json(history),
    )
