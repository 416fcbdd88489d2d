"""Shared test helpers: compile, run on the input space, and assert agreement."""

from __future__ import annotations

from typing import Any

import compiler
from models.verification import input_space, verify


def assert_compiles_exactly(
    program: Any,
    vocab: Any,
    max_seq_len: int,
    *,
    causal: bool = False,
    samples: int = 500,
    min_len: int = 1,
) -> Any:
    """Compile ``program`` and require the model to match the evaluator at every node on
    every input (exhaustive up to 20,000 inputs, else ``samples`` random ones)."""
    model = compiler.compile_rasp_to_model(program, vocab, max_seq_len, causal=causal)
    inputs = input_space(sorted(vocab, key=repr), max_seq_len, samples=samples, min_len=min_len)
    report = verify(model, inputs)  # every node, not only the output
    assert report.ok, f"{program.label}: {report}"
    assert report.checked > 0, f"{program.label}: no input inside the program's domain"
    return model
