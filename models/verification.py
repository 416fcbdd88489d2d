"""Differential checking: the compiled model against the reference evaluator, node by node.

Inputs are every sequence up to ``max_seq_len`` when there are at most
``exhaustive_limit`` of them, otherwise ``samples`` seeded random ones (every
length represented).  Inputs the evaluator rejects (e.g. a categorical
Aggregate that would combine different values) are outside the program's
domain: counted, not compared.

With ``intermediates=True`` every SOp of the program is decoded from the
residual stream right after the sub-layer that writes it and compared with the
evaluator's value for that node, so a failure names the first node that goes
wrong, not just the output.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

import rasp
from models.decode import decode_directions
from rasp.errors import EvaluationError, RaspcValueError

__all__ = ["NodeFailure", "Report", "input_space", "verify", "check_model", "values_match"]


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
    """Equal, with numbers (also inside tuples) compared within ``atol`` (relative above 1)
    and None only matching None."""
    if expected is None or got is None:
        return expected is None and got is None
    numbers = (bool, int, float, np.number)
    if isinstance(expected, numbers) and isinstance(got, numbers):
        return math.isclose(float(expected), float(got), abs_tol=atol, rel_tol=atol)
    if isinstance(expected, tuple) and isinstance(got, tuple):  # e.g. (0.8333..., "b")
        return len(expected) == len(got) and all(
            values_match(a, b, atol) for a, b in zip(expected, got)
        )
    return expected == got


@dataclass(frozen=True)
class NodeFailure:
    """The first input on which node ``label`` decodes differently from the evaluator."""

    label: str
    input: list[Any]
    expected: list[Any]
    got: list[Any]

    def __str__(self) -> str:
        return (
            f"node {self.label!r} on input {self.input}: "
            f"evaluator {self.expected}, model {self.got}"
        )


@dataclass(frozen=True)
class Report:
    """What a verification run compared and what it found."""

    checked: int  # inputs compared
    out_of_domain: int  # inputs the evaluator rejects
    nodes: tuple[str, ...]  # the nodes compared, in dependency order
    failures: tuple[NodeFailure, ...]  # first failing input per failing node, in node order

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def first_failure(self) -> NodeFailure | None:
        return self.failures[0] if self.failures else None

    def __str__(self) -> str:
        head = (
            f"{self.checked} inputs checked ({self.out_of_domain} outside the domain), "
            f"{len(self.nodes)} nodes compared, {len(self.failures)} failing"
        )
        return "\n".join([head, *(f"  {f}" for f in self.failures[:5])])

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checked": self.checked,
            "out_of_domain": self.out_of_domain,
            "nodes": list(self.nodes),
            "failures": [
                {"node": f.label, "input": f.input, "expected": f.expected, "got": f.got}
                for f in self.failures
            ],
        }


def _same(expected: Sequence[Any], got: Sequence[Any], atol: float) -> bool:
    return len(expected) == len(got) and all(
        values_match(a, b, atol) for a, b in zip(expected, got)
    )


def verify(
    model: Any,
    inputs: Sequence[Sequence[Any]] | None = None,
    *,
    program: rasp.SOp | None = None,
    samples: int = 500,
    seed: int = 0,
    intermediates: bool = True,
    atol: float = 1e-4,
) -> Report:
    """Compare ``model`` with the evaluator on ``inputs`` (default: the input space of its
    vocabulary and max_seq_len), at the output or at every node.

    ``program`` defaults to the one the model was compiled from; pass it for a model
    loaded from disk.
    """
    layout = model.layout
    program = program if program is not None else model.program
    if program is None:
        raise RaspcValueError(
            "verify needs the RASP program: this model was loaded without it; pass program=..."
        )
    if inputs is None:
        inputs = input_space(layout.vocab, layout.max_seq_len, samples=samples, seed=seed)
    causal = layout.causal
    labels = [label for label in layout.nodes if intermediates or label == layout.output]
    expected: list[dict[str, Any]] = []
    kept: list[list[Any]] = []
    skipped = 0
    for xs in inputs:
        try:
            expected.append(rasp.evaluate_all(program, list(xs), causal=causal))
            kept.append(list(xs))
        except EvaluationError:
            skipped += 1
    if expected:  # compiler-internal nodes (e.g. pairs for | across Selects) are not
        labels = [label for label in labels if label in expected[0]]  # the program's own
    first: dict[str, NodeFailure] = {}
    row0 = 0
    for part, _, extras in model.run_chunks(kept, keep=("residuals", "embeddings")):
        streams = [extras["embeddings"], *extras["residuals"]]
        for label in labels:
            if label in first:
                continue
            decoded = decode_directions(layout, label, streams[layout.nodes[label].ready + 1])
            for row, xs in enumerate(part):
                want = expected[row0 + row][label]
                got = decoded[row][1 : len(xs) + 1]
                if not _same(want, got, atol):
                    first[label] = NodeFailure(label, xs, list(want), got)
                    break
        row0 += len(part)
    failures = tuple(first[label] for label in labels if label in first)
    return Report(checked=len(kept), out_of_domain=skipped, nodes=tuple(labels), failures=failures)


def check_model(model: Any, inputs: Sequence[Sequence[Any]], atol: float = 1e-4) -> Report:
    """Output-only comparison on ``inputs`` (see :func:`verify`)."""
    return verify(model, inputs, intermediates=False, atol=atol)
