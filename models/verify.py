"""Differential checking: the compiled model against the reference evaluator.

Inputs are every sequence up to ``max_seq_len`` when there are at most
``exhaustive_limit`` of them, otherwise ``samples`` seeded random ones (all
lengths represented).  Inputs the evaluator rejects (e.g. a categorical
Aggregate that would combine different values) are outside the program's
domain and are counted, not compared.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import rasp
from rasp.errors import EvaluationError

__all__ = ["Mismatch", "Report", "input_space", "check_model", "values_match"]


def _space_size(vocab_size: int, max_seq_len: int) -> int:
    return sum(vocab_size**n for n in range(1, max_seq_len + 1))


def input_space(
    vocab: Sequence[Any],
    max_seq_len: int,
    *,
    exhaustive_limit: int = 20_000,
    samples: int = 500,
    seed: int = 0,
    min_len: int = 1,
) -> list[list[Any]]:
    """All inputs of length ``min_len..max_seq_len`` if few enough, else a seeded sample."""
    vocab = list(vocab)
    if _space_size(len(vocab), max_seq_len) <= exhaustive_limit:
        return [
            list(seq)
            for n in range(min_len, max_seq_len + 1)
            for seq in itertools.product(vocab, repeat=n)
        ]
    rng = random.Random(seed)
    lengths = list(range(min_len, max_seq_len + 1))
    out = [[rng.choice(vocab) for _ in range(n)] for n in lengths]  # every length once
    while len(out) < samples:
        n = rng.choice(lengths)
        out.append([rng.choice(vocab) for _ in range(n)])
    return out


def values_match(expected: Any, got: Any, atol: float = 1e-4) -> bool:
    """Equal, with numbers compared within ``atol`` and None only matching None."""
    if expected is None or got is None:
        return expected is None and got is None
    numbers = (bool, int, float)
    if isinstance(expected, numbers) and isinstance(got, numbers):
        return math.isclose(float(expected), float(got), abs_tol=atol, rel_tol=0)
    return expected == got


@dataclass(frozen=True)
class Mismatch:
    input: list[Any]
    expected: list[Any]
    got: list[Any]

    def __str__(self) -> str:
        return f"input {self.input}: evaluator {self.expected}, model {self.got}"


@dataclass(frozen=True)
class Report:
    checked: int  # inputs compared
    out_of_domain: int  # inputs the evaluator rejects
    mismatches: tuple[Mismatch, ...]

    @property
    def ok(self) -> bool:
        return not self.mismatches

    def __str__(self) -> str:
        head = (
            f"{self.checked} inputs checked, {self.out_of_domain} outside the domain, "
            f"{len(self.mismatches)} mismatches"
        )
        return "\n".join([head, *(f"  {m}" for m in self.mismatches[:5])])


def check_model(model: Any, inputs: Sequence[Sequence[Any]], atol: float = 1e-4) -> Report:
    """Run ``model`` (batched) and the evaluator on ``inputs`` and compare outputs."""
    program = model.program
    causal = model.model_config.causal
    expected: list[list[Any]] = []
    kept: list[list[Any]] = []
    skipped = 0
    for xs in inputs:
        try:
            expected.append(rasp.evaluate(program, list(xs), causal=causal))
            kept.append(list(xs))
        except EvaluationError:
            skipped += 1
    got = model.run_batch(kept) if kept else []
    bad = tuple(
        Mismatch(xs, e, g)
        for xs, e, g in zip(kept, expected, got)
        if len(e) != len(g) or not all(values_match(a, b, atol) for a, b in zip(e, g))
    )
    return Report(checked=len(kept), out_of_domain=skipped, mismatches=bad)
