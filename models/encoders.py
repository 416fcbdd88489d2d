"""Token encoding in, value decoding out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from rasp.errors import RaspcValueError

__all__ = ["InputEncoder", "CategoricalOutputEncoder", "NumericalOutputEncoder"]

NONE_THRESHOLD = 0.5
"""A categorical read-out whose largest coordinate is below this decodes as None
(an all-zero vector is how the model stores None)."""


class InputEncoder:
    """Maps tokens to embedding rows; ``encoding_map`` as in Tracr."""

    def __init__(self, encoding_map: dict[Any, int], bos: Any, pad: Any, max_seq_len: int):
        self.encoding_map = dict(encoding_map)
        self.bos_token = bos
        self.pad_token = pad
        self.pad_id = self.encoding_map[pad]
        self.max_seq_len = max_seq_len

    def encode(self, tokens: Sequence[Any]) -> list[int]:
        tokens = list(tokens)
        if not tokens or tokens[0] != self.bos_token:
            raise RaspcValueError(
                f"the input must start with the BOS token {self.bos_token!r}, found "
                f"{tokens[:1]!r}; call model.apply([{self.bos_token!r}, *tokens])"
            )
        if len(tokens) - 1 > self.max_seq_len:
            raise RaspcValueError(
                f"the input has {len(tokens) - 1} tokens but the model was compiled for at most "
                f"{self.max_seq_len}; recompile with a larger max_seq_len"
            )
        ids = []
        for pos, tok in enumerate(tokens):
            code = self.encoding_map.get(tok) if pos == 0 or tok != self.bos_token else None
            if code is None or tok == self.pad_token:
                vocab = [t for t in self.encoding_map if t not in (self.bos_token, self.pad_token)]
                raise RaspcValueError(
                    f"token {tok!r} at position {pos} is not in the vocabulary {vocab!r}"
                )
            ids.append(code)
        return ids


class CategoricalOutputEncoder:
    """Decodes the output node's one-hot directions by argmax (None when all are ~0)."""

    def __init__(self, values: Sequence[Any], columns: Sequence[int]):
        self.values = list(values)
        self.columns = np.asarray(columns, dtype=np.int64)
        self.encoding_map = {v: i for i, v in enumerate(self.values)}

    def decode(self, residual: np.ndarray) -> list[Any]:
        """``residual [T, D]`` -> one value (or None) per position."""
        if not len(self.values):
            return [None] * residual.shape[0]
        scores = residual[:, self.columns]
        best = scores.argmax(axis=-1)
        top = scores.max(axis=-1)
        return [self.values[b] if t >= NONE_THRESHOLD else None for b, t in zip(best, top)]


class NumericalOutputEncoder:
    """Reads the output node's single direction as a number."""

    def __init__(self, columns: Sequence[int]):
        self.columns = np.asarray(columns, dtype=np.int64)

    def decode(self, residual: np.ndarray) -> list[float]:
        return [float(v) for v in residual[:, self.columns[0]]]
