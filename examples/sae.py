"""SAE on a compressed model: train a SAELens sparse autoencoder, score it against ground truth.

The paper's superposition setup (frac_prevs over {a, b, c, x}, max_seq_len 5,
D = 13 residual directions) compressed to ``--d`` dimensions (default 6) with
``models.compress``; then a SAELens TopK SAE is trained on the compressed
residual stream at ``blocks.1.hook_resid_post`` (every valid input, BOS and padding
left out) with SAELens's own ``SAETrainer`` fed by ``models.sae.activation_batches``,
and ``models.sae.score_sae`` scores it against the features the compiler put there
in one call.  The same SAE settings on the uncompressed model (no superposition)
are scored too, as the baseline.

Needs the ``hooked`` extra (SAELens; ``make test-tl3`` builds an environment with it)::

    .venv-tl3/bin/python examples/sae.py [--d 6] [--latents 32] [--k 3] [--quick]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

import compiler
import models
import rasp
from models import sae
from rasp import lib

HOOK = "blocks.1.hook_resid_post"


@dataclass(frozen=True)
class Setup:
    """What the example trains: the compression, then the SAE."""

    d: int = 6
    compress_steps: int = 1000
    restarts: int = 4
    latents: int = 32
    k: int = 3
    samples: int = 400_000  # activations the SAE trains on (with repeats)
    batch_size: int = 256
    lr: float = 3e-3
    seed: int = 0


QUICK = Setup(compress_steps=100, restarts=2, latents=16, samples=20_000)


def frac_prevs() -> models.CompiledModel:
    program = lib.make_frac_prevs(rasp.tokens == "x")
    return compiler.compile_rasp_to_model(program, {"a", "b", "c", "x"}, 5)


def shuffled(acts: np.ndarray, batch_size: int, seed: int) -> Iterator[Any]:
    """Endless shuffled batches of ``acts`` as torch tensors (SAELens's data provider)."""
    import torch

    data = torch.from_numpy(acts)
    generator = torch.Generator().manual_seed(seed)
    while True:
        if len(data) < batch_size:  # fewer activations than a batch: draw with repeats
            yield data[torch.randint(len(data), (batch_size,), generator=generator)]
            continue
        order = torch.randperm(len(data), generator=generator)
        for start in range(0, len(data) - batch_size + 1, batch_size):
            yield data[order[start : start + batch_size]]


def train_sae(acts: np.ndarray, setup: Setup, hook: str = HOOK) -> Any:
    """A SAELens TopK SAE trained on ``acts [N, d_in]`` with SAELens's ``SAETrainer``."""
    import torch
    from sae_lens import SAETrainer, TopKTrainingSAE, TopKTrainingSAEConfig
    from sae_lens.config import LoggingConfig, SAETrainerConfig

    torch.manual_seed(setup.seed)
    cfg = TopKTrainingSAEConfig(d_in=acts.shape[1], d_sae=setup.latents, k=setup.k)
    cfg.metadata.hook_name = hook
    model = TopKTrainingSAE(cfg)
    trainer_cfg = SAETrainerConfig(
        total_training_samples=setup.samples,
        train_batch_size_samples=setup.batch_size,
        lr=setup.lr,
        lr_end=setup.lr,
        logger=LoggingConfig(log_to_wandb=False),
    )
    data = shuffled(acts, setup.batch_size, setup.seed)
    SAETrainer(cfg=trainer_cfg, sae=model, data_provider=data).fit()
    return model


def run(setup: Setup = Setup(), *, progress: bool = True) -> dict[str, sae.SAEScore]:
    """Compress, train one SAE per model (compressed, then compiled), score each."""
    import torch

    torch.set_num_threads(1)  # tiny matrices: threads only contend
    compiled = frac_prevs()
    small = models.compress(
        compiled,
        setup.d,
        steps=setup.compress_steps,
        restarts=setup.restarts,
        seed=setup.seed,
        progress=progress,
    )
    accuracy = models.evaluate_compression(small).accuracy
    print(f"compressed {small!r}: exact on {accuracy:.1%} of all valid inputs")
    inputs = sae.sae_inputs(compiled)
    scores = {}
    for name, model in (("compressed", small), ("compiled", compiled)):
        truth = sae.ground_truth(model, HOOK, inputs)
        acts = sae.activation_matrix(model, HOOK, inputs)
        trained = train_sae(acts, setup)
        scores[name] = sae.score_sae(trained, truth)  # the one call
        print(f"\n== {name} model (d_in {truth.d_in}), SAE on {truth.dataset}")
        print(scores[name].summary())
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--d", type=int, help=f"compressed width (default {Setup.d})")
    parser.add_argument("--latents", type=int, help=f"SAE width (default {Setup.latents})")
    parser.add_argument("--k", type=int, help=f"TopK's active latents (default {Setup.k})")
    parser.add_argument("--quick", action="store_true", help="a tiny run (for tests)")
    args = parser.parse_args()
    given = {name: getattr(args, name) for name in ("d", "latents", "k")}
    base = QUICK if args.quick else Setup()
    setup = replace(base, **{name: v for name, v in given.items() if v is not None})
    start = time.perf_counter()
    run(setup)
    print(f"\ntotal {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
