"""raspc's models: the Haiku transformer that runs compiled weights, and what goes with it.

This is the only package that imports jax and Haiku.  Submodules are imported
on first use, so ``import models`` itself stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "CompiledModel": "models.compiled",
    "ModelOutput": "models.compiled",
    "save_model": "models.io",
    "load_model": "models.io",
    "verify": "models.verification",
    "input_space": "models.verification",
    "decode_node": "models.decode",
    "decode_residual": "models.decode",
    "compress": "models.compression",
    "CompressedModel": "models.compression",
    "evaluate_compression": "models.compression",
    "save_compressed": "models.compression",
    "load_compressed": "models.compression",
    "CompressionSettings": "models.compression",
    "sweep": "models.compression.sweep",
    "SweepTable": "models.compression.sweep",
    "PromptSet": "models.prompts",
    "prompt_set": "models.prompts",
    "bench_circuits": "models.circuit_bench",
    "ground_truth": "models.sae",
    "score_sae": "models.sae",
    "attention_html": "models.attention_view",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'models' has no attribute {name!r}")
