"""The settings of one compression run: a typed, frozen object with named fields.

Everything :func:`models.compress` can be told lives here, validated once when the
object is built, saved with the model and read back by name (never by position).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from rasp.errors import RaspcTypeError, RaspcValueError

__all__ = ["INITS", "MODES", "CompressionSettings"]

MODES = ("stream", "layer")
INITS = ("auto", "importance", "random")

_POSITIVE_INTS = ("restarts", "steps", "batch_size", "eval_every", "pool_size", "eval_size")
_NON_NEGATIVE = (
    "learning_rate",
    "free_learning_rate",
    "warmup",
    "anneal",
    "init_noise",
    "warm_share",
    "output_weight",
    "margin_weight",
    "layer_weight",
    "free_layer_weight",
    "temperature",
    "atol",
    "min_delta",
)


@dataclass(frozen=True)
class CompressionSettings:
    """How :func:`models.compress` trains a projection (see its docstring for the why).

    Training runs ``restarts`` projections side by side (vectorised with ``jax.vmap``),
    each from its own start, and keeps the checkpoint with the best exact-match
    accuracy on the evaluation inputs (ties: the lower loss).  The evaluation inputs
    are every valid input when there are at most ``exhaustive_limit`` of them, else
    ``eval_size`` random valid inputs; with every input enumerable, training draws its
    batches from the same inputs (the task is to keep a known function, not to
    generalise), else from ``pool_size`` other random valid inputs.
    """

    seed: int = 0
    trial: int = 0  # folded into the training randomness only (not the inputs): retries
    restarts: int = 8
    mode: str = "stream"
    tied: bool = True
    orthonormal: bool | None = None  # None: restarts alternate orthonormal and free
    init: str = "auto"  # "auto": importance for orthonormal restarts, random for free
    init_noise: float = 0.3  # importance (or warm) starts after the first: this far from it
    warm_share: float = 0.5  # with a warm start: the share of restarts started from it
    steps: int = 3000
    batch_size: int = 64
    learning_rate: float = 0.001  # orthonormal restarts: score ties break at larger steps
    free_learning_rate: float = 0.003  # free restarts
    warmup: int = 100
    anneal: int = 1000  # steps over which the columns beyond d fade out (<= steps / 3)
    output_weight: float = 1.0
    margin_weight: float = 100.0
    layer_weight: float = 1.0  # orthonormal restarts
    free_layer_weight: float = 0.01  # free restarts: the layer loss only nudges
    temperature: float = 10.0
    exhaustive_limit: int = 20_000
    pool_size: int = 4096
    eval_size: int = 2000
    eval_every: int = 100
    patience: int | None = 10  # checkpoints without the accuracy rising by min_delta
    min_delta: float = 0.005
    stop_at_accuracy: float | None = 1.0
    atol: float = 1e-2

    def __post_init__(self) -> None:
        for name, allowed in (("mode", MODES), ("init", INITS)):
            if getattr(self, name) not in allowed:
                raise RaspcValueError(
                    f"compress: {name} must be one of {allowed}, found {getattr(self, name)!r}"
                )
        for name in (*_POSITIVE_INTS, "seed", "trial", "exhaustive_limit"):
            value = getattr(self, name)
            low = 0 if name in ("seed", "trial", "exhaustive_limit") else 1
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise RaspcValueError(f"compress: {name} must be an int >= {low}, found {value!r}")
        for name in _NON_NEGATIVE:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise RaspcValueError(f"compress: {name} must be a number >= 0, found {value!r}")
        if self.patience is not None and (not isinstance(self.patience, int) or self.patience < 1):
            raise RaspcValueError(
                f"compress: patience must be None or >= 1, found {self.patience!r}"
            )
        if self.warm_share > 1:
            raise RaspcValueError(
                f"compress: warm_share must be in [0, 1], found {self.warm_share!r}"
            )
        target = self.stop_at_accuracy
        if target is not None and not 0 <= target <= 1:
            raise RaspcValueError(
                f"compress: stop_at_accuracy must be None or in [0, 1], found {target!r}"
            )

    def restart_kinds(self) -> list[tuple[bool, str]]:
        """(orthonormal, init) of each restart: with ``orthonormal=None`` even restarts
        are orthonormal and odd ones free, so programs that need exact score ties
        (orthonormal) and programs that gain from superposition (free) both get a
        fair share; ``init="auto"`` starts orthonormal restarts from the importance
        order and free ones from a random rotation."""
        kinds = []
        for r in range(self.restarts):
            ortho = r % 2 == 0 if self.orthonormal is None else self.orthonormal
            init = self.init if self.init != "auto" else ("importance" if ortho else "random")
            kinds.append((ortho, init))
        return kinds

    @property
    def chunks(self) -> int:
        """Checkpoints in a full run: ``steps`` rounded up to a multiple of ``eval_every``."""
        return -(-self.steps // self.eval_every)

    @property
    def total_steps(self) -> int:
        return self.chunks * self.eval_every

    @property
    def anneal_steps(self) -> int:
        """``anneal``, capped at a third of the run so most of it trains at width d."""
        return min(self.anneal, self.total_steps // 3)

    def replace(self, **changes: Any) -> CompressionSettings:
        """A copy with ``changes``; an unknown name is refused with the known ones."""
        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise RaspcTypeError(
                f"compress got unknown setting(s) {unknown}; expected some of {sorted(known)}"
            )
        return dataclasses.replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CompressionSettings:
        """Settings saved by :meth:`to_json`; names this version no longer has (files
        written by older versions) are ignored."""
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})
