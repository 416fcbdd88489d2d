"""Squeeze a compiled model's residual stream into fewer dimensions with a learned projection.

A compiled model gives every value its own residual direction, so nothing in it is
in superposition.  Tracr's paper (Lindner et al., 2023, section 5) learns one linear
map of the residual stream over the frozen compiled weights, forcing the same
computation into fewer dimensions; what the map keeps, drops and overlaps is then a
known-ground-truth case of superposition.

The package, one concern per module:

* :mod:`~models.compression.settings`: :class:`CompressionSettings`, every knob by name;
* :mod:`~models.compression.model`: :class:`CompressedModel`, run through
  :mod:`models.transformer`'s forward pass with a hook that squeezes the stream;
* :mod:`~models.compression.data`: the inputs (all valid ones when enumerable, else a
  stated sample) and their targets;
* :mod:`~models.compression.training`: losses, restarts vectorised with ``jax.vmap``,
  :func:`compress`;
* :mod:`~models.compression.evaluation`: the one definition of accuracy,
  :func:`evaluate_compression`;
* :mod:`~models.compression.io`: save and load;
* :mod:`~models.compression.sweep`: the smallest d at a target accuracy, over seeds
  and programs, in parallel (threads, or a Ray cluster).

The analysis and plots are in :mod:`models.superposition`.
"""

from __future__ import annotations

from models.compression.evaluation import (
    CompressionReport,
    LayerFaithfulness,
    correct,
    evaluate_compression,
)
from models.compression.io import load_compressed, save_compressed
from models.compression.model import CompressedModel, CompressedOutput, layer_names
from models.compression.settings import INITS, MODES, CompressionSettings
from models.compression.training import TrainingHistory, compress

__all__ = [
    "INITS",
    "MODES",
    "CompressedModel",
    "CompressedOutput",
    "CompressionReport",
    "CompressionSettings",
    "LayerFaithfulness",
    "TrainingHistory",
    "compress",
    "correct",
    "evaluate_compression",
    "layer_names",
    "load_compressed",
    "save_compressed",
]
