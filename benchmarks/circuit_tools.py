"""auto-circuit's own ACDC and EAP scored against raspc's ground-truth edges.

For each library program: compile it, export it with
:func:`models.hooked.to_hooked_transformer`, draw
``models.prompts.prompt_set(model, n, seed=0, vary_length=True)`` (varied lengths,
corrupt prompts whose answers differ), run :func:`models.autocircuit.acdc_scores` and
:func:`models.autocircuit.eap_scores` (auto-circuit 1.0.1's implementations) under each
ablation, and print the ROC AUC of their scores at telling raspc's edge set
(:func:`compiler.edges.edge_set`, bias-only edges included) from the rest of the
model's edge graph.  ACDC uses auto-circuit's default tau grid (20 values).  Runs in
the TransformerLens 3.x environment (``make test-tl3`` builds it)::

    .venv-tl3/bin/python benchmarks/circuit_tools.py [--programs reverse sort ...]
        [--ablations resample zero] [--n 64]
"""

from __future__ import annotations

import argparse
import time

import compiler
from compiler.circuit import circuit_map
from compiler.edges import edge_set
from models import autocircuit
from models.hooked import to_hooked_transformer
from models.prompts import prompt_set
from rasp import lib

PROGRAMS = (
    "reverse",
    "frac_prevs",
    "min",
    "running_count",
    "parity",
    "sort",
    "detect_pattern",
)
"""Library programs that compile to small models (23-100 edges in the full graph)."""


def measure(name: str, n: int, ablations: list[str]) -> dict:
    """One table row: sizes, and the ROC AUC of each method under each ablation."""
    e = lib.LIBRARY[name]
    program = e.build(e.max_seq_len)
    compiled = compiler.compile_rasp(program, set(e.vocab), e.max_seq_len)
    model = compiler.compile_rasp_to_model(program, set(e.vocab), e.max_seq_len)
    edges = edge_set(circuit_map(model), model.params, values=compiled.values)
    hooked = to_hooked_transformer(model)
    prompts = prompt_set(model, n, seed=0, vary_length=True)
    row = {
        "program": name,
        "layers": model.model_config.num_layers,
        "heads": model.model_config.num_heads,
        "true": len(edges.names()),
        "edges": len(edges.all_names()),
        "prompts": len(prompts),
    }
    start = time.perf_counter()
    for ablation in ablations:
        for method, fn in (("ACDC", autocircuit.acdc_scores), ("EAP", autocircuit.eap_scores)):
            scores = fn(hooked, model, prompts, ablation=ablation)
            row[f"{method} {ablation}"] = autocircuit.roc_auc(scores, edges.names())
    row["seconds"] = time.perf_counter() - start
    return row


def table(rows: list[dict], ablations: list[str]) -> str:
    cols = [f"{m} {a}" for a in ablations for m in ("ACDC", "EAP")]
    head = f"{'program':<15} {'L':>2} {'H':>2} {'true/edges':>10} " + " ".join(
        f"{c:>13}" for c in cols
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r['program']:<15} {r['layers']:>2} {r['heads']:>2} "
            f"{str(r['true']) + '/' + str(r['edges']):>10} "
            + " ".join(f"{r[c]:>13.3f}" for c in cols)
        )
    lines.append("-" * len(head))
    lines.append(
        f"{'mean':<15} {'':>2} {'':>2} {'':>10} "
        + " ".join(f"{sum(r[c] for r in rows) / len(rows):>13.3f}" for c in cols)
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--programs", nargs="+", default=list(PROGRAMS))
    parser.add_argument(
        "--ablations", nargs="+", default=["resample", "zero"], choices=autocircuit.ABLATIONS
    )
    parser.add_argument("--n", type=int, default=64, help="prompt pairs per program")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)  # tiny models: threads only add overhead
    start = time.perf_counter()
    rows = []
    for name in args.programs:
        rows.append(measure(name, args.n, args.ablations))
        print(f"# {name}: {rows[-1]['seconds']:.0f}s", flush=True)
    print(
        f"ROC AUC vs raspc's edge set (bias-only edges included); prompts: "
        f"prompt_set(model, n={args.n}, seed=0, vary_length=True); auto-circuit's default "
        "ACDC tau grid; EAP logit difference (numerical outputs: the value)"
    )
    print(table(rows, args.ablations))
    print(f"total {time.perf_counter() - start:.0f}s")


if __name__ == "__main__":
    main()
