"""Differential checking: the compiled model against the reference evaluator, node by node.

Inputs are every sequence up to ``max_seq_len`` when there are at most
``exhaustive_limit`` of them, otherwise ``samples`` seeded random ones (every
length represented).  Inputs the evaluator rejects (e.g. a categorical
Aggregate that would combine different values) are outside the program's
domain: counted by reason, not compared.  A run that compares nothing (every
input outside the domain) is ``vacuous``: it proves nothing, so its report does
not count as ``passed`` and ``raspc verify`` exits 1.  Every report says whether
its inputs were the whole space or a sample of it (how many of how many).

With ``intermediates=True`` every SOp of the program is decoded from the
residual stream right after the sub-layer that writes it and compared with the
evaluator's value for that node, so a failure names the first node that goes
wrong, not just the output.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import random
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

import rasp
from models.decode import decode_directions
from rasp.errors import EvaluationError, RaspcValueError, RaspcWarning

__all__ = [
    "InputPlan",
    "NodeFailure",
    "OutsideReason",
    "Report",
    "check_model",
    "input_space",
    "merge_reports",
    "outside_reason",
    "plan_inputs",
    "values_match",
    "verify",
]


def _space_size(vocab_size: int, max_seq_len: int, min_len: int = 1) -> int:
    return sum(vocab_size**n for n in range(min_len, max_seq_len + 1))


@dataclass(frozen=True)
class InputPlan:
    """The inputs a verification run uses, and whether they are all of them.

    ``space_size`` counts every input of length ``min_len..max_seq_len``; ``exhaustive``
    says ``inputs`` is that whole space rather than a seeded sample of it.
    """

    inputs: list[list[Any]]
    exhaustive: bool
    space_size: int


def plan_inputs(
    vocab: Sequence[Any],
    max_seq_len: int,
    *,
    exhaustive_limit: int = 20_000,
    samples: int = 500,
    seed: int = 0,
    min_len: int = 1,
) -> InputPlan:
    """All inputs of length ``min_len..max_seq_len`` if at most ``exhaustive_limit``,
    else ``samples`` seeded random ones (every length at least once)."""
    vocab = list(vocab)
    size = _space_size(len(vocab), max_seq_len, min_len)
    if size <= exhaustive_limit:
        every = [
            list(seq)
            for n in range(min_len, max_seq_len + 1)
            for seq in itertools.product(vocab, repeat=n)
        ]
        return InputPlan(every, exhaustive=True, space_size=size)
    rng = random.Random(seed)
    lengths = list(range(min_len, max_seq_len + 1))
    out = [[rng.choice(vocab) for _ in range(n)] for n in lengths]  # every length once
    while len(out) < samples:
        n = rng.choice(lengths)
        out.append([rng.choice(vocab) for _ in range(n)])
    return InputPlan(out, exhaustive=False, space_size=size)


def input_space(
    vocab: Sequence[Any],
    max_seq_len: int,
    *,
    exhaustive_limit: int = 20_000,
    samples: int = 500,
    seed: int = 0,
    min_len: int = 1,
) -> list[list[Any]]:
    """All inputs of length ``min_len..max_seq_len`` if few enough, else a seeded sample
    (the inputs of :func:`plan_inputs`)."""
    plan = plan_inputs(
        vocab,
        max_seq_len,
        exhaustive_limit=exhaustive_limit,
        samples=samples,
        seed=seed,
        min_len=min_len,
    )
    return plan.inputs


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
class OutsideReason:
    """Inputs the evaluator rejected for one reason (e.g. a function raising, or a
    categorical Aggregate combining different values), with the first such input."""

    reason: str  # the evaluator's message without the input-specific details
    count: int
    example: list[Any]
    message: str  # the evaluator's full message on ``example``

    def __str__(self) -> str:
        return f"{self.count} x {self.reason} (e.g. {self.example})"


@dataclass(frozen=True)
class Report:
    """What a verification run compared and what it found.

    ``ok`` says no node disagreed; ``passed`` also requires that something was compared
    (``vacuous``: every input fell outside the program's domain, so nothing was).
    """

    checked: int  # inputs compared
    out_of_domain: int  # inputs the evaluator rejects
    nodes: tuple[str, ...]  # the nodes compared, in dependency order
    failures: tuple[NodeFailure, ...]  # first failing input per failing node, in node order
    outside: tuple[OutsideReason, ...] = ()  # why inputs fell outside, most frequent first
    none_outputs: int = 0  # compared inputs whose output is None at every position
    exhaustive: bool | None = None  # every input of the space; None: the caller's inputs
    space_size: int | None = None  # inputs in the whole space, when known

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def vacuous(self) -> bool:
        return self.checked == 0

    @property
    def passed(self) -> bool:
        return self.ok and not self.vacuous

    @property
    def first_failure(self) -> NodeFailure | None:
        return self.failures[0] if self.failures else None

    @property
    def coverage(self) -> str:
        """How the inputs were chosen: exhaustively, sampled (how many of how many), or
        given by the caller."""
        total = self.checked + self.out_of_domain
        if self.exhaustive:
            return f"exhaustive: all {total} inputs"
        if self.exhaustive is False and self.space_size is not None:
            return f"sampled: {total} of {self.space_size} inputs"
        return f"{total} given inputs"

    def __str__(self) -> str:
        head = (
            f"{self.coverage}; {self.checked} inputs checked ({self.out_of_domain} outside the "
            f"domain), {len(self.nodes) if self.checked else 0} nodes compared, "
            f"{len(self.failures)} failing"
        )
        lines = [head]
        if self.vacuous:
            lines.append(
                "  nothing was checked: every input is outside the program's domain (the "
                "evaluator rejects it), so this run proves nothing"
            )
        lines += [f"  outside the domain: {o}" for o in self.outside[:5]]
        if self.none_outputs:
            lines.append(f"  {self.none_outputs} checked inputs give None at every position")
        lines += [f"  {f}" for f in self.failures[:5]]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "passed": self.passed,
            "vacuous": self.vacuous,
            "checked": self.checked,
            "out_of_domain": self.out_of_domain,
            "exhaustive": self.exhaustive,
            "space_size": self.space_size,
            "none_outputs": self.none_outputs,
            "outside": [
                {"reason": o.reason, "count": o.count, "example": o.example, "message": o.message}
                for o in self.outside
            ],
            "nodes": list(self.nodes),
            "failures": [
                {"node": f.label, "input": f.input, "expected": f.expected, "got": f.got}
                for f in self.failures
            ],
        }


def merge_reports(
    reports: Sequence[Report],
    nodes: Sequence[str] | None = None,
    *,
    exhaustive: bool | None = None,
    space_size: int | None = None,
) -> Report:
    """One report from reports on disjoint parts of one input set (e.g. chunks run with a
    progress bar): counts add, the first failure per node and example per reason win."""
    labels = tuple(nodes) if nodes is not None else (reports[0].nodes if reports else ())
    first: dict[str, NodeFailure] = {}
    for report in reports:
        for failure in report.failures:
            first.setdefault(failure.label, failure)
    outside: dict[str, OutsideReason] = {}
    for report in reports:
        for o in report.outside:
            seen = outside.get(o.reason)
            count = o.count + (seen.count if seen else 0)
            outside[o.reason] = dataclasses.replace(seen or o, count=count)
    return Report(
        checked=sum(r.checked for r in reports),
        out_of_domain=sum(r.out_of_domain for r in reports),
        nodes=labels,
        failures=tuple(first[label] for label in labels if label in first),
        outside=_by_count(outside.values()),
        none_outputs=sum(r.none_outputs for r in reports),
        exhaustive=exhaustive,
        space_size=space_size,
    )


def _by_count(reasons: Any) -> tuple[OutsideReason, ...]:
    return tuple(sorted(reasons, key=lambda o: -o.count))


_DETAILS = re.compile(r" on value | on key |, but |; ")


def outside_reason(err: EvaluationError) -> str:
    """The evaluator's message without the input-specific tail, so rejections group."""
    text = " ".join(str(err).split())
    return _DETAILS.split(text, maxsplit=1)[0][:200]


def _same(expected: Sequence[Any], got: Sequence[Any], atol: float) -> bool:
    return len(expected) == len(got) and all(
        values_match(a, b, atol) for a, b in zip(expected, got)
    )


def _evaluate(
    program: rasp.SOp, inputs: Sequence[Sequence[Any]], causal: bool
) -> tuple[list[list[Any]], list[dict[str, Any]], dict[str, OutsideReason]]:
    """The inputs inside the domain, the evaluator's value of every node on each, and the
    rejected inputs grouped by reason."""
    kept: list[list[Any]] = []
    expected: list[dict[str, Any]] = []
    outside: dict[str, OutsideReason] = {}
    for xs in inputs:
        try:
            expected.append(rasp.evaluate_all(program, list(xs), causal=causal))
            kept.append(list(xs))
        except EvaluationError as err:
            reason = outside_reason(err)
            seen = outside.get(reason)
            if seen is None:
                outside[reason] = OutsideReason(reason, 1, list(xs), str(err))
            else:
                outside[reason] = dataclasses.replace(seen, count=seen.count + 1)
    return kept, expected, outside


def verify(
    model: Any,
    inputs: Sequence[Sequence[Any]] | InputPlan | None = None,
    *,
    program: rasp.SOp | None = None,
    samples: int = 500,
    seed: int = 0,
    intermediates: bool = True,
    atol: float = 1e-4,
) -> Report:
    """Compare ``model`` with the evaluator on ``inputs`` (default: the input space of its
    vocabulary and max_seq_len, see :func:`plan_inputs`), at the output or at every node.

    ``program`` defaults to the one the model was compiled from; pass it for a model
    loaded from disk.  A run in which every input falls outside the program's domain
    compares nothing: its report is ``vacuous`` (not ``passed``) and a
    :class:`~rasp.errors.RaspcWarning` says so.
    """
    layout = model.layout
    program = program if program is not None else model.program
    if program is None:
        raise RaspcValueError(
            "verify needs the RASP program: this model was loaded without it; pass program=..."
        )
    if inputs is None:
        inputs = plan_inputs(layout.vocab, layout.max_seq_len, samples=samples, seed=seed)
    exhaustive = inputs.exhaustive if isinstance(inputs, InputPlan) else None
    space_size = inputs.space_size if isinstance(inputs, InputPlan) else None
    if isinstance(inputs, InputPlan):
        inputs = inputs.inputs
    labels = [label for label in layout.nodes if intermediates or label == layout.output]
    kept, expected, outside = _evaluate(program, inputs, layout.causal)
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
    report = Report(
        checked=len(kept),
        out_of_domain=len(inputs) - len(kept),
        nodes=tuple(labels),
        failures=tuple(first[label] for label in labels if label in first),
        outside=_by_count(outside.values()),
        none_outputs=sum(
            1 for row in expected if all(v is None for v in row.get(layout.output, [None]))
        ),
        exhaustive=exhaustive,
        space_size=space_size,
    )
    if report.vacuous and inputs:
        reasons = "; ".join(str(o) for o in report.outside[:3])
        warnings.warn(
            f"verify of {layout.output!r} compared nothing: all {len(inputs)} inputs are "
            f"outside the program's domain ({reasons})",
            RaspcWarning,
            stacklevel=2,
        )
    return report


def check_model(model: Any, inputs: Sequence[Sequence[Any]], atol: float = 1e-4) -> Report:
    """Output-only comparison on ``inputs`` (see :func:`verify`)."""
    return verify(model, inputs, intermediates=False, atol=atol)
