"""The compiler's front door: one straight line through the passes.

``compile_rasp`` stays numpy/networkx-only and returns a :class:`CompiledProgram`
(every pass's result, for inspection); ``compile_rasp_to_model`` also builds
the Haiku model (importing jax only then).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import rasp
from compiler.basis import Direction, sorted_values
from compiler.blocks import SOFTMAX_BETA, Block, bos_direction, build_blocks
from compiler.causal import check_causal
from compiler.fuse import fuse_maps
from compiler.graph import ProgramGraph, build_graph
from compiler.layers import Schedule, schedule_blocks
from compiler.layout import ModelLayout, build_layout
from compiler.pairing import pair_selectors
from compiler.residual import ResidualSpace, allocate_residual
from compiler.validate import validate
from compiler.values import ValueSets, infer_values
from compiler.weights import ModelConfig, Params, emit_params, input_encoding
from rasp.errors import RaspcTypeError, RaspcValueError

if TYPE_CHECKING:
    from models.compiled import CompiledModel

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

    @property
    def layout(self) -> ModelLayout:
        """Where every node lives in the model (plain data; see compiler.layout)."""
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
    causal: bool = False,
    compiler_bos: Any = "compiler_bos",
    compiler_pad: Any = "compiler_pad",
) -> CompiledProgram:
    """Compile ``program`` to numpy weights for inputs over ``vocab`` up to ``max_seq_len``."""
    vocab_t = _check_arguments(vocab, max_seq_len, compiler_bos, compiler_pad)
    graph = build_graph(pair_selectors(fuse_maps(program)))
    inference = infer_values(graph, frozenset(vocab_t), max_seq_len)
    values = inference.sets
    validate(graph, values, inference.clashes)
    if causal:
        check_causal(graph, vocab_t, max_seq_len, program)
    bos = bos_direction(compiler_bos)
    blocks = build_blocks(graph, values, bos, SOFTMAX_BETA)
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
    causal: bool = False,
    compiler_bos: Any = "compiler_bos",
    compiler_pad: Any = "compiler_pad",
) -> CompiledModel:
    """Compile ``program`` into a runnable Haiku transformer (Tracr's signature).

    >>> import rasp, compiler
    >>> model = compiler.compile_rasp_to_model(rasp.tokens + 1, {1, 2, 3}, max_seq_len=4)
    >>> model.apply(["compiler_bos", 3, 1, 2]).decoded
    ['compiler_bos', 4, 2, 3]
    """
    compiled = compile_rasp(program, vocab, max_seq_len, causal, compiler_bos, compiler_pad)
    from models.compiled import CompiledModel  # jax is imported only here

    return CompiledModel.from_compiled(compiled)
