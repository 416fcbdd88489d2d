"""The compiled shape of every library program, as plain JSON, and its golden files.

A golden pins what a refactor must leave alone: the number of layers, each layer's
heads (by the node they compute) and MLP blocks (node and hidden size), the residual
directions in order and the model config.  Regenerate only when a change is meant
to alter shapes, and say why in the commit:

    python -m tests.golden.regenerate            # every library program
    python -m tests.golden.regenerate sort hist  # some of them

Shapes come from :func:`compiler.compile_rasp` (numpy only, no model is built).
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path
from typing import Any

import compiler
import rasp
from compiler.blocks import HeadBlock
from rasp.lib import LIBRARY

__all__ = ["GOLDEN_DIR", "golden_path", "layout_shape", "library_shape", "render"]

GOLDEN_DIR = Path(__file__).parent / "layouts"


def golden_path(name: str) -> Path:
    return GOLDEN_DIR / f"{name}.json"


def layout_shape(compiled: compiler.CompiledProgram) -> dict[str, Any]:
    """The shapes of one compiled program: config, per-layer blocks, residual labels."""
    schedule = compiled.schedule
    layers = []
    for layer in range(schedule.num_layers):
        heads = [b.node for b in schedule.in_sublayer(2 * layer)]
        mlps = [[b.node, b.hidden_size] for b in schedule.in_sublayer(2 * layer + 1)]
        layers.append(
            {
                "heads": heads,
                "mlp": mlps,
                "mlp_hidden": sum(size for _, size in mlps),
            }
        )
    config = compiled.config
    return {
        "num_layers": config.num_layers,
        "num_heads": config.num_heads,
        "key_size": config.key_size,
        "mlp_hidden_size": config.mlp_hidden_size,
        "d_model": config.d_model,
        "layers": layers,
        "residual": list(compiled.residual.labels),
        "head_shapes": [
            [b.node, list(b.w_qk.shape), list(b.w_ov.shape)]
            for p in schedule.placements
            if isinstance(b := p.block, HeadBlock)
        ],
    }


def library_shape(name: str) -> dict[str, Any]:
    """The golden content of one library program: its shape compiled on the whole
    input and, where the program is accepted left to right, compiled causally."""
    entry = LIBRARY[name]
    program = entry.build(entry.max_seq_len)
    vocab = set(entry.vocab)
    out: dict[str, Any] = {
        "program": name,
        "max_seq_len": entry.max_seq_len,
        "vocab": [repr(v) for v in entry.vocab],
        "whole": layout_shape(compiler.compile_rasp(program, vocab, entry.max_seq_len)),
    }
    try:
        with warnings.catch_warnings():  # a CausalWarning says what the test checks
            warnings.simplefilter("ignore", rasp.errors.CausalWarning)
            causal = compiler.compile_rasp(program, vocab, entry.max_seq_len, causal=True)
    except rasp.UnsupportedProgramError:
        out["causal"] = "refused"
    else:
        out["causal"] = layout_shape(causal)
    return out


_FLAT_LIST = re.compile(r"\[\s*([^\[\]{}]*?)\s*\]")


def _one_line(match: re.Match[str]) -> str:
    flat = "[" + re.sub(r",\s+", ", ", match.group(1)) + "]"
    return flat if len(flat) <= 80 else match.group(0)


def render(shape: dict[str, Any]) -> str:
    """Stable JSON text (sorted keys; a list of plain values on one line, so a diff
    shows which block or direction changed), ending in a newline."""
    text = json.dumps(shape, indent=1, sort_keys=True)
    text = _FLAT_LIST.sub(_one_line, text)
    return text + "\n"
