"""The compiler's front door: one straight line through the passes.

``compile_rasp`` stays numpy/networkx-only and returns a :class:`CompiledProgram`
(every pass's result, for inspection; its ``params``, ``config`` and ``layout`` are
the artifact, :mod:`compiler.artifact`).  ``compile_rasp_to_model`` hands that to a
back end found through an entry point (:mod:`compiler.backend`; raspc's Haiku model
by default), so this package never imports ``models``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import rasp
from compiler.artifact import ModelConfig, ModelLayout, Params
from compiler.backend import DEFAULT_BACKEND, load_backend
from compiler.basis import Direction, sorted_values
from compiler.blocks import SOFTMAX_BETA, Block, bos_direction, build_blocks
from compiler.causal import Causal, causal_mode, check_causal
from compiler.fuse import fuse_program
from compiler.graph import ProgramGraph, build_graph, label_program
from compiler.layers import Schedule, schedule_blocks
from compiler.layout import build_layout
from compiler.pairing import pair_selectors
from compiler.residual import ResidualSpace, allocate_residual
from compiler.validate import collect_problems
from compiler.values import ValueSets, infer_values
from compiler.weights import emit_params, input_encoding
from rasp.errors import RaspcTypeError, RaspcValueError

__all__ = ["CompiledProgram", "compile_rasp", "compile_rasp_to_model"]


@dataclass(frozen=True)
class CompiledProgram:
    """Everything the compiler produced, pass by pass, before any jax code runs."""

    program: rasp.SOp
    vocab: tuple
    max_seq_len: int
    causal: bool
    compiler_bos: Any
    compiler_pad: Any
    graph: ProgramGraph
    values: ValueSets
    blocks: dict[str, list[Block]]
    schedule: Schedule
    residual: ResidualSpace
    params: Params
    config: ModelConfig
    input_encoding: dict[Any, int]

    @functools.cached_property
    def layout(self) -> ModelLayout:
        """Where every node lives in the model, and every value it can take (plain
        data, :mod:`compiler.artifact`; built once by :mod:`compiler.layout`)."""
        return build_layout(self)

    @property
    def output_label(self) -> str:
        return self.graph.output

    @property
    def output_directions(self) -> tuple[Direction, ...]:
        return self.residual.node_dirs[self.graph.output]


def _check_arguments(vocab: Iterable, max_seq_len: int, bos: Any, pad: Any) -> tuple:
    if isinstance(vocab, (str, bytes)) or not isinstance(vocab, Iterable):
        raise RaspcTypeError(f"compile: vocab must be a set of tokens, found {vocab!r}")
    tokens = set(vocab)
    if not tokens:
        raise RaspcValueError("compile: vocab is empty; pass the set of input tokens")
    if None in tokens:
        raise RaspcValueError("compile: vocab contains None, which RASP uses for 'no value'")
    if isinstance(max_seq_len, bool) or not isinstance(max_seq_len, int) or max_seq_len < 1:
        raise RaspcValueError(f"compile: max_seq_len must be a positive int, found {max_seq_len!r}")
    for special, role in ((bos, "compiler_bos"), (pad, "compiler_pad")):
        if special in tokens:
            raise RaspcValueError(
                f"compile: {role} {special!r} is also in the vocabulary; choose another {role}"
            )
    if bos == pad:
        raise RaspcValueError("compile: compiler_bos and compiler_pad must differ")
    return sorted_values(tokens)


def compile_rasp(
    program: rasp.SOp,
    vocab: Iterable,
    max_seq_len: int,
    causal: Causal = False,
    compiler_bos: Any = "compiler_bos",
    compiler_pad: Any = "compiler_pad",
    *,
    partial: bool = False,
) -> CompiledProgram:
    """Compile ``program`` to numpy weights for inputs over ``vocab`` up to ``max_seq_len``.

    A function that raises on some input raspc infers it can see is refused, unless
    ``partial=True``: then those inputs read as None in the model (the evaluator
    rejects them) and a :class:`rasp.errors.PartialFunctionWarning` lists them.

    ``causal=True`` masks attention to later keys, as Tracr does: the model equals
    ``rasp.evaluate(program, xs, causal=True)`` at every position, with a
    :class:`rasp.errors.CausalWarning` where a search finds that this differs from the
    whole-input program; ``causal="strict"`` refuses such programs (see
    :mod:`compiler.causal`)."""
    vocab_t = _check_arguments(vocab, max_seq_len, compiler_bos, compiler_pad)
    causal, strict = causal_mode(causal)  # "strict": refuse look-ahead instead of warning
    fused = fuse_program(label_program(program))  # keeps named Maps it composes away
    graph = fused.keep(build_graph(pair_selectors(fused.program)))
    inference = infer_values(graph, frozenset(vocab_t), max_seq_len, bool(causal))
    values = inference.sets
    problems = collect_problems(graph, inference, partial)  # raised with the blocks'
    if causal and not problems:
        check_causal(graph, vocab_t, max_seq_len, strict=strict)
    bos = bos_direction(compiler_bos)
    blocks = build_blocks(graph, values, bos, SOFTMAX_BETA, prior=problems)
    schedule = schedule_blocks(graph, blocks)
    residual = allocate_residual(graph, values, blocks, bos)
    encoding = input_encoding(vocab_t, compiler_bos, compiler_pad)
    params, config = emit_params(graph, schedule, residual, encoding, bos, max_seq_len, causal)
    return CompiledProgram(
        program=program,
        vocab=vocab_t,
        max_seq_len=max_seq_len,
        causal=causal,
        compiler_bos=compiler_bos,
        compiler_pad=compiler_pad,
        graph=graph,
        values=values,
        blocks=blocks,
        schedule=schedule,
        residual=residual,
        params=params,
        config=config,
        input_encoding=encoding,
    )


def compile_rasp_to_model(
    program: rasp.SOp,
    vocab: Iterable,
    max_seq_len: int,
    causal: Causal = False,
    compiler_bos: Any = "compiler_bos",
    compiler_pad: Any = "compiler_pad",
    mlp_exactness: int = 100,
    *,
    partial: bool = False,
    backend: str = DEFAULT_BACKEND,
) -> Any:
    """Compile ``program`` into a runnable transformer (Tracr's signature).

    The model comes from the back end registered as ``backend`` (see
    :mod:`compiler.backend`): by default raspc's Haiku model, a
    ``models.CompiledModel`` with Tracr's attributes.

    ``mlp_exactness`` is accepted for Tracr's signature and changes nothing: Tracr
    uses it to size the MLPs that approximate numerical functions, while raspc's
    MLPs compute every value the program can take exactly, by construction.

    >>> import rasp, compiler
    >>> model = compiler.compile_rasp_to_model(rasp.tokens + 1, {1, 2, 3}, max_seq_len=4)
    >>> model.apply(["compiler_bos", 3, 1, 2]).decoded
    ['compiler_bos', 4, 2, 3]
    """
    del mlp_exactness  # exact by construction (see above)
    build = load_backend(backend)  # a missing back end fails before the compile
    compiled = compile_rasp(
        program, vocab, max_seq_len, causal, compiler_bos, compiler_pad, partial=partial
    )
    return build(compiled)
