"""SAELens on raspc activations (the ``make test-tl3`` environment): the example's core
path at tiny size (compress, train a SAELens SAE with its own trainer on the compressed
stream, score it in one call), and ``score_sae``'s MCC equals SAELens's own
``mean_correlation_coefficient`` (Hungarian matching) when latents cover the features."""

from __future__ import annotations

import runpy
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

# only the ``make test-tl3`` environment has SAELens; the main run leaves this file out
# (Makefile), so a missing import here is a failure, not a skip
import sae_lens
import torch
from sae_lens.synthetic.evals import mean_correlation_coefficient

import compiler
import rasp
from models import sae
from models.compression import CompressedModel
from rasp import lib

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "sae.py"


@pytest.fixture(scope="module")
def example():
    return runpy.run_path(str(EXAMPLE))


@pytest.fixture(scope="module")
def frac_prevs():
    program = lib.make_frac_prevs(rasp.tokens == "x")
    return compiler.compile_rasp_to_model(program, {"a", "x"}, 3)


def test_mcc_matches_sae_lens(frac_prevs):
    truth = sae.ground_truth(frac_prevs, "blocks.1.hook_resid_post")
    scored = [i for i, f in enumerate(truth.features) if f.scored]
    rng = np.random.default_rng(0)
    decoder = truth.directions[scored] + 0.3 * rng.normal(size=(len(scored), truth.d_in))
    decoder = np.vstack([decoder, rng.normal(size=(5, truth.d_in))])
    ours = sae.score_sae(decoder, truth).mcc
    theirs = mean_correlation_coefficient(
        torch.tensor(truth.directions[scored]), torch.tensor(decoder)
    )
    assert 0.5 < ours < 0.99
    assert ours == pytest.approx(theirs, abs=1e-6)


def test_example_core_path_at_tiny_size(example, frac_prevs):
    d = frac_prevs.model_config.d_model - 2
    write = np.eye(frac_prevs.model_config.d_model)[:, :d]  # drops the last two directions
    small = CompressedModel(base=frac_prevs, write=write)
    hook = example["HOOK"]
    inputs = sae.sae_inputs(frac_prevs)
    acts = sae.activation_matrix(small, hook, inputs)
    assert acts.shape == (sum(len(x) for x in inputs.inputs), d)
    setup = replace(example["QUICK"], latents=8, samples=4096, batch_size=16)
    trained = example["train_sae"](acts, setup, hook)
    assert isinstance(trained, sae_lens.TopKTrainingSAE)
    score = sae.score_sae(trained, sae.ground_truth(small, hook, inputs))  # no hook warning
    assert score.latents == 8 and score.basis == "compressed"
    assert 0.0 < score.mcc <= 1.0
    assert {f.outcome for f in score.features} <= {
        "recovered",
        "split",
        "merged",
        "missed",
        "constant",
        "dead",
        "dropped",
    }
    assert "frac_prevs" in score.summary()
