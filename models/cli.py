"""``raspc``: compile, run, inspect, plot and verify RASP programs from the shell.

::

    raspc compile reverse -o reverse_model          # a library program (rasp.lib.LIBRARY)
    raspc compile my_prog.py:make --vocab 1,2,3 --max-seq-len 6 -o my_model
    raspc run reverse_model a b c --trace           # outputs, and every node per sub-layer
    raspc inspect reverse_model [--json]            # where every node lives
    raspc plot reverse_model attention -o attn.png --tokens a b c
    raspc verify reverse --max-seq-len 4            # exit status 1 if any node disagrees

User errors (a bad program spec, an unknown token, a program the compiler
refuses) print one ``raspc: error: ...`` message and exit with status 2.
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect as pyinspect
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import rasp
from rasp.errors import RaspcError, RaspcValueError

__all__ = ["main", "parse_vocab", "load_program", "parse_tokens"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
CIRCUIT_FILE = "circuit.json"


# ---------------------------------------------------------------- helpers


def parse_vocab(text: str) -> tuple:
    """``"1,2,3"`` -> ``(1, 2, 3)``; ``"a,b"`` -> ``("a", "b")`` (ints when every item is one)."""
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items:
        raise RaspcValueError(f"--vocab {text!r} is empty; give tokens separated by commas: a,b,c")
    try:
        return tuple(int(item) for item in items)
    except ValueError:
        return tuple(items)


def parse_tokens(words: Sequence[str], vocab: Sequence[Any]) -> list[Any]:
    """Command-line words -> vocabulary tokens (``"3"`` is the int 3 when the vocab holds ints)."""
    by_text: dict[str, Any] = {}
    for token in vocab:
        by_text.setdefault(str(token), token)
    out = []
    for word in words:
        if word not in by_text:
            raise RaspcValueError(
                f"token {word!r} is not in the model's vocabulary {list(vocab)!r}; pass tokens "
                "from the vocabulary"
            )
        out.append(by_text[word])
    return out


def _library() -> dict[str, Any]:
    from rasp.lib import LIBRARY

    return LIBRARY


def load_program(spec: str, max_seq_len: int) -> rasp.SOp:
    """The program named by ``spec``: a library name, or ``path.py:function`` where the
    function returns an SOp and may take ``max_seq_len``."""
    library = _library()
    if spec in library:
        return library[spec].build(max_seq_len)
    path_text, sep, func_name = spec.rpartition(":")
    if not sep or not path_text.endswith(".py"):
        raise RaspcValueError(
            f"unknown program {spec!r}: expected a library program ({', '.join(library)}) or "
            "file.py:function"
        )
    path = Path(path_text)
    if not path.is_file():
        raise RaspcValueError(f"program file {str(path)!r} does not exist")
    module_spec = importlib.util.spec_from_file_location(f"raspc_user_{path.stem}", path)
    if module_spec is None or module_spec.loader is None:
        raise RaspcValueError(f"cannot import {str(path)!r} as a Python module")
    module = importlib.util.module_from_spec(module_spec)
    try:
        module_spec.loader.exec_module(module)
    except RaspcError:
        raise
    except Exception as err:
        raise RaspcValueError(
            f"importing {str(path)!r} failed: {type(err).__name__}: {err}"
        ) from err
    func = getattr(module, func_name, None)
    if not callable(func):
        found = [n for n, v in vars(module).items() if callable(v) and not n.startswith("_")]
        raise RaspcValueError(
            f"{str(path)!r} has no function {func_name!r}; its functions are {found}"
        )
    takes_length = "max_seq_len" in pyinspect.signature(func).parameters
    try:
        program = func(max_seq_len=max_seq_len) if takes_length else func()
    except RaspcError:
        raise
    except Exception as err:
        raise RaspcValueError(f"{spec} raised {type(err).__name__}: {err}") from err
    if not isinstance(program, rasp.SOp):
        raise RaspcValueError(
            f"{spec} returned {type(program).__name__}, expected a rasp.SOp (the program's output)"
        )
    return program


def _program_settings(args: argparse.Namespace) -> tuple[rasp.SOp, tuple, int]:
    """Program, vocab and max_seq_len from ``--vocab``/``--max-seq-len`` or the registry."""
    entry = _library().get(args.program)
    if entry is None and not args.program.rpartition(":")[0].endswith(".py"):
        raise RaspcValueError(
            f"unknown program {args.program!r}: expected a library program (see `raspc list`) "
            "or file.py:function"
        )
    if entry is None and args.vocab is None:
        raise RaspcValueError(
            f"{args.program} is not a library program, so --vocab is needed (e.g. --vocab 1,2,3)"
        )
    vocab = parse_vocab(args.vocab) if args.vocab is not None else entry.vocab
    max_seq_len = args.max_seq_len
    if max_seq_len is None:
        max_seq_len = entry.max_seq_len if entry else 5
    if max_seq_len < 1:
        raise RaspcValueError(f"--max-seq-len must be positive, found {max_seq_len}")
    return load_program(args.program, max_seq_len), vocab, max_seq_len


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "None" if value is None else str(value)


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows if i < len(row)) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)) for row in rows]
    return "\n".join(line.rstrip() for line in lines)


def _shape(model: Any) -> str:
    c = model.model_config
    n_params = sum(int(a.size) for module in model.params.values() for a in module.values())
    return (
        f"{c.num_layers} layers, {c.num_heads} heads, d_model {c.d_model}, "
        f"MLP width {c.mlp_hidden_size}, {n_params} parameters"
    )


def _load(path: str) -> Any:
    from models.io import load_model

    return load_model(path)


# ---------------------------------------------------------------- commands


def _cmd_list(args: argparse.Namespace) -> int:
    rows = [["name", "vocab", "max_seq_len", "description"]]
    for entry in _library().values():
        vocab = ",".join(str(t) for t in entry.vocab)
        rows.append([entry.name, vocab, str(entry.max_seq_len), entry.description])
    print(_table(rows))
    return EXIT_OK


def _cmd_compile(args: argparse.Namespace) -> int:
    import compiler
    from compiler.circuit import circuit_map
    from models.io import save_model

    program, vocab, max_seq_len = _program_settings(args)
    model = compiler.compile_rasp_to_model(program, vocab, max_seq_len, causal=args.causal)
    out = save_model(model, args.output)
    (out / CIRCUIT_FILE).write_text(json.dumps(circuit_map(model).to_json(), indent=1))
    print(f"compiled {program.label!r}: {_shape(model)}")
    print(f"saved to {out}")
    return EXIT_OK


def _cmd_run(args: argparse.Namespace) -> int:
    from models.cache import run_with_cache
    from models.decode import decode_stream

    model = _load(args.model)
    layout = model.layout
    tokens = parse_tokens(args.tokens, layout.vocab)
    out = model.apply([layout.bos, *tokens])
    print("input:  " + " ".join(_fmt(t) for t in tokens))
    print("output: " + " ".join(_fmt(v) for v in out.decoded[1:]))
    if not args.trace:
        return EXIT_OK
    _, cache = run_with_cache(model, [layout.bos, *tokens])
    rows = [["sub-layer", "node", *(_fmt(t) for t in tokens)]]
    stages = [("embeddings", -1, "blocks.0.hook_resid_pre")]
    for layer in range(model.model_config.num_layers):
        stages.append((f"L{layer} attn", 2 * layer, f"blocks.{layer}.hook_resid_mid"))
        stages.append((f"L{layer} mlp", 2 * layer + 1, f"blocks.{layer}.hook_resid_post"))
    for name, sublayer, hook in stages:
        new = decode_stream(layout, cache[hook][0], sublayer, only_new=True)
        if not new:
            rows.append([name, "-"])
        for i, (label, values) in enumerate(new.items()):
            rows.append([name if i == 0 else "", label, *(_fmt(v) for v in values[1:])])
    print()
    print(_table(rows))
    return EXIT_OK


def _cmd_inspect(args: argparse.Namespace) -> int:
    from compiler.circuit import circuit_map

    model = _load(args.model)
    circuit = circuit_map(model)
    if args.json:
        print(json.dumps(circuit.to_json(), indent=1))
        return EXIT_OK
    layout = model.layout
    print(f"model {layout.output!r}: {_shape(model)}")
    print(
        f"vocab {list(layout.vocab)}, max_seq_len {layout.max_seq_len}, "
        f"{'causal' if layout.causal else 'bidirectional'}, BOS {layout.bos!r}"
    )
    print()
    owner = {i: n.label for n in circuit.nodes.values() for i in n.directions}
    rows = [["layer", "component", "computes", "reads"]]
    for c in circuit.components.values():
        if c.kind not in ("attn", "mlp"):
            continue
        reads = dict.fromkeys(owner.get(i, circuit.residual_labels[i]) for i in c.reads)
        rows.append([str(c.layer), c.name, ", ".join(c.nodes), ", ".join(reads)])
    print(_table(rows))
    print()
    print(circuit.summary())
    return EXIT_OK


def _cmd_plot(args: argparse.Namespace) -> int:
    from models import plots

    model = _load(args.model)
    needs_tokens = args.kind in ("residual", "attention")
    if needs_tokens and not args.tokens:
        raise RaspcValueError(f"the {args.kind} plot runs one input: pass --tokens t1 t2 ...")
    tokens = [model.layout.bos, *parse_tokens(args.tokens or [], model.layout.vocab)]
    if args.kind == "residual":
        path = plots.plot_residual(model, tokens, args.output)
    elif args.kind == "attention":
        path = plots.plot_attention(model, tokens, args.output)
    elif args.kind == "weights":
        path = plots.plot_weights(
            model, args.output, layer=args.layer, head=args.head, matrix=args.matrix
        )
    else:
        path = plots.plot_circuit(model, args.output, merge_mlps=args.merge_mlps)
    print(f"wrote {path}")
    return EXIT_OK


def _merge(reports: list[Any], labels: Sequence[str]) -> Any:
    """One report from per-chunk reports: counts add, the first failure per node wins."""
    from models.verification import Report

    first: dict[str, Any] = {}
    for report in reports:
        for failure in report.failures:
            first.setdefault(failure.label, failure)
    return Report(
        checked=sum(r.checked for r in reports),
        out_of_domain=sum(r.out_of_domain for r in reports),
        nodes=tuple(labels),
        failures=tuple(first[label] for label in labels if label in first),
    )


def _cmd_verify(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    import compiler
    from models.verification import input_space, verify

    program, vocab, max_seq_len = _program_settings(args)
    model = compiler.compile_rasp_to_model(program, vocab, max_seq_len, causal=args.causal)
    inputs = input_space(model.layout.vocab, max_seq_len, samples=args.samples, seed=args.seed)
    reports = []
    chunk = 512
    with tqdm(total=len(inputs), unit="input", desc="verify", file=sys.stderr, disable=None) as bar:
        for start in range(0, len(inputs), chunk):
            part = inputs[start : start + chunk]
            reports.append(verify(model, part))
            bar.update(len(part))
    report = _merge(reports, list(model.layout.nodes))
    if args.json:
        print(json.dumps(report.to_dict(), indent=1, default=str))
    else:
        print(f"{program.label!r} ({_shape(model)}): {'OK' if report.ok else 'FAILED'}")
        print(report)
    return EXIT_OK if report.ok else EXIT_FAILED


# ---------------------------------------------------------------- parser


def _add_program(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "program",
        help="a library program name (see `raspc list`) or file.py:function, a function "
        "returning the program's output SOp (it may take max_seq_len)",
    )
    parser.add_argument(
        "--vocab",
        help="input tokens separated by commas, e.g. 1,2,3 or a,b,c (ints when all are ints); "
        "default for library programs: their registry vocabulary",
    )
    parser.add_argument(
        "--max-seq-len",
        type=int,
        help="longest input (default: the registry's for library programs, else 5)",
    )
    parser.add_argument("--causal", action="store_true", help="compile a causal (masked) model")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="raspc",
        description="Compile RASP programs into transformers whose circuits are known ground "
        "truth; run, inspect, plot and verify them.",
        epilog="Run `raspc COMMAND --help` for a command's options.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("list", help="list the library programs", description="List rasp.lib.")
    p.set_defaults(handler=_cmd_list)

    p = sub.add_parser(
        "compile",
        help="compile a program to a saved model directory",
        description="Compile a program and save the model (params.npz, model.json, circuit.json).",
    )
    _add_program(p)
    p.add_argument("-o", "--output", required=True, help="directory to save the model in")
    p.set_defaults(handler=_cmd_compile)

    p = sub.add_parser(
        "run",
        help="run a saved model on tokens",
        description="Run a saved model on one input and print its outputs.",
    )
    p.add_argument("model", help="a directory written by `raspc compile`")
    p.add_argument("tokens", nargs="+", help="input tokens (without BOS), e.g. a b c or 3 1 2")
    p.add_argument(
        "--trace",
        action="store_true",
        help="also print every node's values, decoded from the residual stream after the "
        "sub-layer that writes it",
    )
    p.set_defaults(handler=_cmd_run)

    p = sub.add_parser(
        "inspect",
        help="show where every node lives",
        description="Show the model's layers and heads and, for every node, the components "
        "computing it, its residual directions and its inputs.",
    )
    p.add_argument("model", help="a directory written by `raspc compile`")
    p.add_argument("--json", action="store_true", help="print the full circuit map as JSON")
    p.set_defaults(handler=_cmd_inspect)

    p = sub.add_parser(
        "plot",
        help="draw the residual stream, attention, weights or circuit",
        description="Draw one plot of a saved model to a .png or .svg file.",
    )
    p.add_argument("model", help="a directory written by `raspc compile`")
    p.add_argument("kind", choices=["residual", "attention", "weights", "circuit"])
    p.add_argument("-o", "--output", required=True, help="image file (.png or .svg)")
    p.add_argument("--tokens", nargs="+", help="input tokens for residual and attention plots")
    p.add_argument("--layer", type=int, default=0, help="layer for weights plots (default 0)")
    p.add_argument("--head", type=int, default=0, help="head for qk/ov weights (default 0)")
    p.add_argument("--matrix", choices=["qk", "ov", "mlp"], default="qk", help="weights plot")
    p.add_argument("--merge-mlps", action="store_true", help="circuit: one node per MLP layer")
    p.set_defaults(handler=_cmd_plot)

    p = sub.add_parser(
        "verify",
        help="compile a program and check every node against the evaluator",
        description="Compile a program and compare the model with rasp.evaluate at every node "
        "on every input (or a seeded sample when there are too many); exit status 1 on any "
        "mismatch.",
    )
    _add_program(p)
    p.add_argument("--samples", type=int, default=500, help="inputs sampled when not exhaustive")
    p.add_argument("--seed", type=int, default=0, help="sampling seed")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(handler=_cmd_verify)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``raspc`` command line; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        return args.handler(args)
    except RaspcError as err:
        print(f"raspc: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as err:
        print(f"raspc: error: {err}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
