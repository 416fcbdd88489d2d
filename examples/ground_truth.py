"""Ground truth for interpretability tools: look inside a compiled `reverse`.

Compiles `reverse`, runs it with a TransformerLens-style activation cache, finds
the head that implements its flip selector from the circuit map, reads that
head's attention pattern, decodes an intermediate residual stream into program
values, and loads the same weights into TransformerLens with matching outputs.

Run with `python examples/ground_truth.py` inside the virtualenv.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import compiler
import rasp
from compiler.circuit import circuit_map
from models.cache import run_with_cache
from models.tl_export import tl_inputs, to_transformer_lens
from rasp import lib


def main() -> dict[str, Any]:
    model = compiler.compile_rasp_to_model(lib.make_reverse(rasp.tokens), {"a", "b", "c"}, 5)
    tokens = ["compiler_bos", "a", "b", "c", "c"]
    logits, cache = run_with_cache(model, tokens)

    layer, head = circuit_map(model).head("reverse")  # the head the flip selector became
    pattern = cache[f"blocks.{layer}.attn.hook_pattern"][0, head]  # [query, key]
    before = cache.decode(f"blocks.{layer}.hook_resid_pre")  # node values entering that layer

    bridge = to_transformer_lens(model)  # a TransformerLens TransformerBridge
    tl_logits = bridge(tl_inputs(model, tokens)[0]).detach().numpy()
    diff = float(np.abs(tl_logits - logits).max())

    print(f"'reverse' is computed by head {head} of layer {layer}")
    print(f"each position attends to position: {pattern.argmax(-1)[1:].tolist()}")
    print(f"entering layer {layer}: {before}")
    print(f"output: {model.apply(tokens).decoded[1:]}")
    print(f"TransformerLens max |logit difference|: {diff:.1e}")
    return {"layer": layer, "head": head, "pattern": pattern, "decoded": before, "diff": diff}


if __name__ == "__main__":
    main()
