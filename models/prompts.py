"""Prompt datasets for circuit-discovery tools: clean inputs, corrupt inputs, answers.

Tools such as auto-circuit, ACDC and edge attribution patching score an edge by
running the model on a *clean* prompt with that edge's input taken from a *corrupt*
prompt (resample ablation).  Which edges such a score can find depends on the data:
an edge whose value is the same on every clean and corrupt prompt can never matter.
On fixed-length prompts the length head of ``reverse`` reads the same value on both
sides, so no tool can find it.  :func:`prompt_set` therefore draws prompts of varied
lengths and pairs each clean prompt with a corrupt one whose answer differs, mixing
four kinds of corruption (one each in turn, falling through to the next when a kind
cannot change the answer):

- ``resample``: same length, fresh tokens (the token-reading edges matter);
- ``point``: same length, one token changed (fine-grained token dependence);
- ``length``: another length, the clean tokens kept on the common prefix (only the
  length changes: length / BOS edges matter);
- ``free``: another length, fresh tokens.

An answer *changes* when it differs at some position both prompts have (positions
``1..min(len_clean, len_corrupt)``), since a patched clean run is read at the clean
positions only.

Layout.  ``clean`` and ``corrupt`` are int32 ids ``[N, T]`` exactly as the compiled
model (and :func:`models.hooked.to_hooked_transformer`) takes them: BOS in column 0,
the tokens, then PAD up to ``T = 1 + the longest prompt in the set``.  With
``vary_length=True`` a corrupt prompt may be shorter or longer than its clean
prompt, so a column can be PAD on one side and a token on the other; that is how
resample ablation reaches the length machinery (a patched clean run sees the corrupt
side's ``one``/BOS directions and keys).  With ``vary_length=False`` every prompt has
length ``max_seq_len`` (the fixed-length data most tool tutorials use).

Answers are the evaluator's values on the raw inputs (``rasp.evaluate`` of the
attached program, causally for a causal model); a model loaded without its program
falls back to the model's own decoded outputs.  Same model, ``n`` and seed: same set.
Needs numpy and the evaluator only (no torch).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

import rasp
from models.verification import values_match
from rasp.errors import EvaluationError, RaspcValueError

__all__ = ["CORRUPTIONS", "PromptSet", "prompt_set", "answers_differ"]

FORMAT = "raspc-prompts"
VERSION = 1
CORRUPTIONS = ("resample", "point", "length", "free")
"""The corruption kinds, in the order prompts cycle through them."""
_TRIES = 24  # random draws per corruption kind before falling through to the next


@dataclass(frozen=True)
class PromptSet:
    """Clean/corrupt prompt pairs of one compiled program, with the program's answers.

    ``clean[i]`` pairs with ``corrupt[i]``; ids are BOS first, PAD after (see the module
    docstring for the layout).  ``kinds[i]`` names the corruption used for pair ``i``.
    """

    program: str
    clean: np.ndarray
    corrupt: np.ndarray
    clean_inputs: tuple[tuple, ...]
    corrupt_inputs: tuple[tuple, ...]
    answers: tuple[tuple, ...]
    corrupt_answers: tuple[tuple, ...]
    lengths: np.ndarray
    kinds: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        n = len(self.clean_inputs)
        sizes = {
            "clean": self.clean.shape[0],
            "corrupt": self.corrupt.shape[0],
            "corrupt_inputs": len(self.corrupt_inputs),
            "answers": len(self.answers),
            "corrupt_answers": len(self.corrupt_answers),
            "lengths": len(self.lengths),
        }
        if self.clean.shape != self.corrupt.shape or any(s != n for s in sizes.values()):
            raise RaspcValueError(
                f"a PromptSet needs {n} rows everywhere and clean/corrupt of one shape, found "
                f"{sizes} and shapes {self.clean.shape} / {self.corrupt.shape}"
            )

    def __len__(self) -> int:
        return len(self.clean_inputs)

    @property
    def corrupt_lengths(self) -> np.ndarray:
        """``int [N]``: the corrupt prompts' lengths (without BOS)."""
        return np.asarray([len(x) for x in self.corrupt_inputs], dtype=np.int64)

    @property
    def mask(self) -> np.ndarray:
        """``bool [N, T]``: the clean answer positions (columns ``1..lengths[i]``)."""
        cols = np.arange(self.clean.shape[1])[None, :]
        return (cols >= 1) & (cols <= self.lengths[:, None])

    def to_json(self) -> dict[str, Any]:
        """Plain JSON data (tuples become lists)."""
        return {
            "format": FORMAT,
            "version": VERSION,
            "program": self.program,
            "clean": self.clean.tolist(),
            "corrupt": self.corrupt.tolist(),
            "clean_inputs": _jsonable(self.clean_inputs),
            "corrupt_inputs": _jsonable(self.corrupt_inputs),
            "answers": _jsonable(self.answers),
            "corrupt_answers": _jsonable(self.corrupt_answers),
            "lengths": self.lengths.tolist(),
            "kinds": list(self.kinds),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PromptSet:
        """The inverse of :meth:`to_json` (tuple-valued tokens or answers come back as
        tuples)."""
        if data.get("format") != FORMAT or data.get("version") != VERSION:
            raise RaspcValueError(
                f"not a prompt set: format {data.get('format')!r} version "
                f"{data.get('version')!r}, expected {FORMAT!r} version {VERSION}; write one "
                "with PromptSet.to_json()"
            )
        rows = lambda key: tuple(tuple(_untuple(v) for v in row) for row in data[key])
        return cls(
            program=data["program"],
            clean=np.asarray(data["clean"], dtype=np.int32),
            corrupt=np.asarray(data["corrupt"], dtype=np.int32),
            clean_inputs=rows("clean_inputs"),
            corrupt_inputs=rows("corrupt_inputs"),
            answers=rows("answers"),
            corrupt_answers=rows("corrupt_answers"),
            lengths=np.asarray(data["lengths"], dtype=np.int64),
            kinds=tuple(data.get("kinds", ())),
        )


def _jsonable(value: Any) -> Any:
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _untuple(value: Any) -> Any:
    return tuple(_untuple(v) for v in value) if isinstance(value, list) else value


def answers_differ(clean: Sequence[Any], corrupt: Sequence[Any]) -> bool:
    """Whether two answers differ at some position both have (what a patched clean run,
    read at the clean positions, can see)."""
    common = min(len(clean), len(corrupt))
    return any(not values_match(a, b) for a, b in zip(clean[:common], corrupt[:common]))


Answer = Callable[[list], "tuple | None"]


def _answer_fn(model: Any) -> Answer:
    """``answer(xs)``: the program's output on ``xs`` as a tuple, None outside its domain."""
    program = getattr(model, "program", None)
    causal = bool(model.model_config.causal)
    if program is None:

        def from_model(xs: list) -> tuple | None:
            return tuple(model.run_batch([xs])[0])

        return from_model
    cache: dict[tuple, tuple | None] = {}

    def evaluated(xs: list) -> tuple | None:
        key = tuple(xs)
        if key not in cache:
            try:
                cache[key] = tuple(rasp.evaluate(program, list(xs), causal=causal))
            except EvaluationError:
                cache[key] = None
        return cache[key]

    return evaluated


def _vocab(model: Any) -> list:
    enc = model.input_encoder
    special = (enc.bos_token, enc.pad_token)
    by_id = sorted(enc.encoding_map.items(), key=lambda kv: kv[1])
    return [tok for tok, _ in by_id if tok not in special]


def _corruption(
    kind: str, xs: list, vocab: list, lengths: list[int], rng: random.Random
) -> list | None:
    """One random corrupt input of ``kind`` for clean input ``xs`` (None: kind impossible)."""
    n = len(xs)
    others = [m for m in lengths if m != n]
    if kind == "resample":
        return [rng.choice(vocab) for _ in range(n)]
    if kind == "point":
        if len(vocab) < 2:
            return None
        out = list(xs)
        i = rng.randrange(n)
        out[i] = rng.choice([t for t in vocab if t != xs[i]])
        return out
    if not others:
        return None
    m = rng.choice(others)
    if kind == "length":
        return list(xs[:m]) + [rng.choice(vocab) for _ in range(m - n)]
    return [rng.choice(vocab) for _ in range(m)]  # "free"


def _pair(
    xs: list,
    answer: tuple,
    first_kind: int,
    kinds: Sequence[str],
    vocab: list,
    lengths: list[int],
    answer_fn: Answer,
    rng: random.Random,
) -> tuple[str, list, tuple] | None:
    """A corrupt partner for ``xs`` whose answer differs, trying the kinds in turn from
    ``first_kind``."""
    for step in range(len(kinds)):
        kind = kinds[(first_kind + step) % len(kinds)]
        for _ in range(_TRIES):
            corrupt = _corruption(kind, xs, vocab, lengths, rng)
            if corrupt is None:
                break
            theirs = answer_fn(corrupt)
            if theirs is not None and answers_differ(answer, theirs):
                return kind, corrupt, theirs
    return None


def _ids(model: Any, inputs: Sequence[Sequence[Any]], width: int) -> np.ndarray:
    enc = model.input_encoder
    ids = np.full((len(inputs), width), enc.pad_id, dtype=np.int32)
    for row, xs in enumerate(inputs):
        ids[row, : len(xs) + 1] = enc.encode([enc.bos_token, *xs])
    return ids


def prompt_set(model: Any, n: int = 64, *, seed: int = 0, vary_length: bool = True) -> PromptSet:
    """``n`` clean/corrupt prompt pairs for ``model`` (a compiled model), each corrupt
    answer differing from its clean answer.

    ``vary_length=True``: clean lengths cycle through ``1..max_seq_len`` (shuffled) and
    the corruption kinds cycle through :data:`CORRUPTIONS`, so length and BOS edges are
    needed too; ``False``: every prompt has length ``max_seq_len`` and corruptions keep
    it.  Fewer than ``n`` pairs come back only when the program's answers rarely change
    (e.g. a nearly constant program); none at all is an error.
    """
    if n < 1:
        raise RaspcValueError(f"prompt_set needs n >= 1 prompts, found n={n}")
    max_len = model.input_encoder.max_seq_len
    vocab = _vocab(model)
    answer_fn = _answer_fn(model)
    rng = random.Random(f"raspc-prompts:{seed}")
    lengths = list(range(1, max_len + 1)) if vary_length else [max_len]
    kinds = CORRUPTIONS if vary_length else ("resample", "point")
    found: list[tuple[str, list, tuple, list, tuple]] = []
    order: list[int] = []
    for attempt in range(8 * n):
        if len(found) == n:
            break
        if not order:
            order = list(lengths)
            rng.shuffle(order)
        xs = [rng.choice(vocab) for _ in range(order.pop())]
        answer = answer_fn(xs)
        if answer is None:
            continue
        pair = _pair(xs, answer, attempt % len(kinds), kinds, vocab, lengths, answer_fn, rng)
        if pair is not None:
            found.append((pair[0], xs, answer, pair[1], pair[2]))
    if not found:
        raise RaspcValueError(
            f"no corrupt input changes the answer of {model.layout.output!r} on {8 * n} "
            "random inputs (is its output constant?), so no prompt set can score its edges"
        )
    width = 1 + max(max(len(f[1]), len(f[3])) for f in found)
    clean_inputs = tuple(tuple(f[1]) for f in found)
    corrupt_inputs = tuple(tuple(f[3]) for f in found)
    return PromptSet(
        program=model.layout.output,
        clean=_ids(model, clean_inputs, width),
        corrupt=_ids(model, corrupt_inputs, width),
        clean_inputs=clean_inputs,
        corrupt_inputs=corrupt_inputs,
        answers=tuple(f[2] for f in found),
        corrupt_answers=tuple(f[4] for f in found),
        lengths=np.asarray([len(x) for x in clean_inputs], dtype=np.int64),
        kinds=tuple(f[0] for f in found),
    )
