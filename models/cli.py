"""``raspc``: compile, run, inspect, plot and verify RASP programs from the shell.

::

    raspc compile reverse -o reverse_model          # a library program (rasp.lib.LIBRARY)
    raspc compile my_prog.py:make --vocab 1,2,3 --max-seq-len 6 -o my_model
    raspc run reverse_model a b c --trace           # outputs, and every node per sub-layer
    raspc inspect reverse_model [--json]            # where every node lives
    raspc plot reverse_model attention -o attn.png --tokens a b c
    raspc verify reverse --max-seq-len 4            # exit status 1 if any node disagrees
    raspc bench-circuits --methods patching,attribution   # circuit discovery vs ground truth

Vocabularies: ``--vocab 1,2,x`` reads each comma-separated token as an int, else a
float, else a string (so ``1,2,x`` is ``(1, 2, "x")`` and ``0.5,1.5`` is two
floats); ``--vocab '[0.5, 1.5, "x"]'`` is JSON (the way to pass ``"1"`` as a
string); ``--vocab @tokens.json`` (or a path ending in ``.json`` / ``.txt``) reads
either form from a file.

Exit status: 0 success; 1 ``verify`` found a mismatch or checked nothing (every
input outside the program's domain); 2 a user error (a bad argument or program
spec, an unknown token, a program the compiler refuses, a missing, corrupted or
truncated model folder, output closed early as in ``raspc inspect --json | head``),
always reported as exactly one line ``raspc: error: ...`` on stderr; 3 an
internal error (a raspc bug), also one line (``RASPC_TRACEBACK=1`` shows the
traceback).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import importlib.util
import inspect as pyinspect
import json
import math
import os
import re
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import rasp
from rasp.errors import RaspcError, RaspcValueError, RaspcWarning

__all__ = ["main", "parse_vocab", "load_program", "parse_tokens"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3
CIRCUIT_FILE = "circuit.json"


# ---------------------------------------------------------------- helpers


class UsageError(RaspcValueError):
    """A command-line argument argparse refuses (unknown option, bad choice, not an int)."""


_INT = re.compile(r"[+-]?\d+")
_FLOAT = re.compile(r"[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?")
_VOCAB_FILE_SUFFIXES = (".json", ".txt")


def _plain_token(text: str) -> int | float | str:
    """One comma-form token: an int if it reads as one, else a (finite) float, else the
    string itself (``nan`` and ``inf`` stay strings)."""
    if _INT.fullmatch(text):
        return int(text)
    if _FLOAT.fullmatch(text):
        value = float(text)
        if not math.isfinite(value):
            raise RaspcValueError(f"--vocab: the token {text!r} overflows to {value}")
        return value
    return text


def _json_token(value: Any, source: str) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        raise RaspcValueError(f"{source}: the token {value!r} is not a finite number")
    if isinstance(value, (str, int, float)):  # bool is an int
        return value
    kind = "null" if value is None else type(value).__name__
    raise RaspcValueError(
        f"{source}: tokens must be strings or numbers, found {value!r} ({kind}); None is "
        "the value 'no value', not a token"
    )


def _check_vocab(tokens: list[Any], source: str) -> tuple:
    if not tokens:
        raise RaspcValueError(f"{source} is empty; give tokens, e.g. --vocab a,b,c")
    seen: dict[Any, Any] = {}
    for token in tokens:
        if token in seen:
            same = "twice" if repr(seen[token]) == repr(token) else f"and {seen[token]!r}"
            raise RaspcValueError(
                f"{source} lists the token {token!r} {same} (Python treats them as one "
                "token); list each token once"
            )
        seen[token] = token
    return tuple(tokens)


def _vocab_text(text: str) -> tuple[str, str]:
    """``(content, source)``: the text itself, or a file's content for ``@file`` and for
    an existing path ending in .json or .txt."""
    path_text = text[1:] if text.startswith("@") else text
    is_file = text.startswith("@") or (
        path_text.endswith(_VOCAB_FILE_SUFFIXES) and Path(path_text).is_file()
    )
    if not is_file:
        return text, f"--vocab {text!r}"
    try:
        return Path(path_text).read_text(encoding="utf-8"), f"vocabulary file {path_text!r}"
    except (OSError, UnicodeDecodeError) as err:
        raise RaspcValueError(f"cannot read the vocabulary file {path_text!r}: {err}") from None


def parse_vocab(text: str) -> tuple:
    """A vocabulary from the command line.

    * JSON list: ``'[0.5, 1.5, "x"]'`` -> ``(0.5, 1.5, "x")`` (strings, ints, floats, bools);
    * comma form: ``"1,2,x"`` -> ``(1, 2, "x")``, each token an int, else a float, else a
      string (so ``"0.5,1.5"`` is two floats);
    * ``@file`` (or a path ending in .json / .txt): either form read from the file, where
      newlines separate tokens as commas do.
    """
    content, source = _vocab_text(text)
    stripped = content.strip()
    if stripped.startswith(("[", "{")):
        try:
            data = json.loads(stripped)
        except json.JSONDecodeError as err:
            raise RaspcValueError(
                f"{source} is not a valid JSON list ({err.msg} at column {err.colno}); write "
                """e.g. '[1, 2.5, "x"]'"""
            ) from None
        if not isinstance(data, list):
            raise RaspcValueError(f"{source}: expected a JSON list of tokens")
        return _check_vocab([_json_token(v, source) for v in data], source)
    items = [item.strip() for item in re.split(r"[,\n]", content) if item.strip()]
    return _check_vocab([_plain_token(item) for item in items], source)


def parse_tokens(words: Sequence[str], vocab: Sequence[Any]) -> list[Any]:
    """Command-line words -> vocabulary tokens: a word names the token whose ``str`` it
    is (``"3"`` is the int 3 when the vocab holds ints); where two tokens print alike
    (``1`` and ``"1"``) write the JSON form (``1`` or ``'"1"'``)."""
    by_text: dict[str, list[Any]] = {}
    for token in vocab:
        by_text.setdefault(str(token), []).append(token)
    return [_token(word, by_text, vocab) for word in words]


def _token(word: str, by_text: dict[str, list[Any]], vocab: Sequence[Any]) -> Any:
    matches = by_text.get(word, [])
    if len(matches) == 1:
        return matches[0]
    try:
        literal = json.loads(word)
    except ValueError:
        literal = None
    if literal is not None and not isinstance(literal, (list, dict)):
        typed = [t for t in vocab if type(t) is type(literal) and t == literal]
        if typed:
            return typed[0]
    if matches:
        forms = " or ".join(repr(json.dumps(t)) for t in matches)
        raise RaspcValueError(f"token {word!r} is ambiguous in this vocabulary; write {forms}")
    raise RaspcValueError(
        f"token {word!r} is not in the model's vocabulary {list(vocab)!r}; pass tokens "
        "from the vocabulary (in JSON form, e.g. '\"1\"', where two print alike)"
    )


def _input(words: Sequence[str], layout: Any) -> list[Any]:
    """One input for a saved model: known tokens, no longer than it was compiled for."""
    if len(words) > layout.max_seq_len:
        raise RaspcValueError(
            f"the input has {len(words)} tokens, but the model takes at most "
            f"{layout.max_seq_len} (its max_seq_len); pass fewer tokens or recompile with "
            "--max-seq-len"
        )
    return parse_tokens(words, layout.vocab)


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
    except (Exception, SystemExit) as err:
        raise RaspcValueError(
            f"importing {str(path)!r} failed: {type(err).__name__}: {err}"
        ) from err
    func = getattr(module, func_name, None)
    if not callable(func):
        found = [n for n, v in vars(module).items() if callable(v) and not n.startswith("_")]
        raise RaspcValueError(
            f"{str(path)!r} has no function {func_name!r}; its functions are {found}"
        )
    try:
        takes_length = "max_seq_len" in pyinspect.signature(func).parameters
    except (TypeError, ValueError):
        takes_length = False
    try:
        program = func(max_seq_len=max_seq_len) if takes_length else func()
    except RaspcError:
        raise
    except (Exception, SystemExit) as err:
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


def _compile(program: rasp.SOp, vocab: tuple, max_seq_len: int, args: argparse.Namespace) -> Any:
    import compiler

    options = {"partial": True} if args.partial else {}
    return compiler.compile_rasp_to_model(
        program, vocab, max_seq_len, causal=args.causal, **options
    )


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
    from compiler.circuit import circuit_map
    from models.io import save_model

    program, vocab, max_seq_len = _program_settings(args)
    model = _compile(program, vocab, max_seq_len, args)
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
    tokens = _input(args.tokens, layout)
    out = model.apply([layout.bos, *tokens])
    print("input:  " + " ".join(_fmt(t) for t in tokens))
    print("output: " + " ".join(_fmt(v) for v in out.decoded[1:]))
    if not args.trace:
        return EXIT_OK
    _, cache = run_with_cache(model, [layout.bos, *tokens])
    rows = [["sub-layer", "node", *(_fmt(t) for t in tokens)]]
    from compiler.artifact import resid_hook

    stages = [("embeddings", -1, resid_hook(-1))]
    for layer in range(model.model_config.num_layers):
        stages.append((f"L{layer} attn", 2 * layer, resid_hook(2 * layer)))
        stages.append((f"L{layer} mlp", 2 * layer + 1, resid_hook(2 * layer + 1)))
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
    tokens = [model.layout.bos, *_input(args.tokens or [], model.layout)]
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


class _NoBar:
    """Stands in for a tqdm bar when the ``compress`` extra (tqdm) is not installed."""

    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, n: int) -> None:
        return None


def _progress(total: int, desc: str) -> Any:
    """A tqdm progress bar on stderr, or a silent stand-in without tqdm."""
    try:
        from tqdm import tqdm
    except ImportError:
        return _NoBar()
    return tqdm(total=total, unit="input", desc=desc, file=sys.stderr, disable=None)


def _verdict(report: Any) -> str:
    if not report.ok:
        return "FAILED"
    return "OK" if report.checked else "NOTHING CHECKED (every input is outside the domain)"


def _cmd_verify(args: argparse.Namespace) -> int:
    from models import verification

    if args.samples < 1:
        raise RaspcValueError(f"--samples must be positive, found {args.samples}")
    program, vocab, max_seq_len = _program_settings(args)
    model = _compile(program, vocab, max_seq_len, args)
    plan = verification.plan_inputs(
        model.layout.vocab, max_seq_len, samples=args.samples, seed=args.seed
    )
    reports = []
    chunk = 512
    with _progress(len(plan.inputs), "verify") as bar, warnings.catch_warnings():
        warnings.simplefilter("ignore", RaspcWarning)  # a chunk may be vacuous; the sum says
        for start in range(0, len(plan.inputs), chunk):
            part = plan.inputs[start : start + chunk]
            reports.append(verification.verify(model, part))
            bar.update(len(part))
    report = verification.merge_reports(
        reports, list(model.layout.nodes), exhaustive=plan.exhaustive, space_size=plan.space_size
    )
    if args.json:
        print(json.dumps(report.to_dict(), indent=1, default=str))
    else:
        print(f"{program.label!r} ({_shape(model)}): {_verdict(report)}")
        print(report)
    return EXIT_OK if report.passed else EXIT_FAILED


def _cmd_bench_circuits(args: argparse.Namespace) -> int:
    import time

    from models import circuit_bench

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    if not methods:
        raise RaspcValueError("--methods is empty; give e.g. --methods patching,attribution")
    if args.prompts < 1 or args.generated < 0:
        raise RaspcValueError(
            f"--prompts must be positive and --generated non-negative, found {args.prompts} "
            f"and {args.generated}"
        )
    if args.plot:  # refuse a bad path or a missing matplotlib before the long run
        from models.plots import _check_path, _figure

        _check_path(args.plot)
        _figure(1.0, 1.0)
    start = time.perf_counter()
    tty = sys.stderr.isatty()
    result = circuit_bench.bench_circuits(
        args.programs or None,
        methods=methods,
        n=args.prompts,
        seed=args.seed,
        vary_length=not args.fixed_length,
        generated=args.generated,
        generated_seed=args.generated_seed,
        progress=(lambda line: print(f"bench-circuits: {line}", file=sys.stderr)) if tty else None,
        threads=args.threads,
        ablation=args.ablation,
    )
    if not result.programs:
        raise RaspcValueError(
            "no program could be benchmarked: "
            + "; ".join(f"{name}: {why}" for name, why in result.skipped)
        )
    print(result.table())
    for name, why in result.skipped:
        print(f"skipped {name}: {why}")
    for path, text in ((args.csv, result.to_csv()), (args.json, None)):
        if path:
            text = text if text is not None else json.dumps(result.to_json(), indent=1)
            Path(path).write_text(text + ("" if text.endswith("\n") else "\n"))
            print(f"wrote {path}")
    if args.plot:
        print(f"wrote {circuit_bench.plot_bench(result, args.plot)}")
    settings = result.settings
    print(
        f"{len(result.programs)} programs, {settings['prompts']} prompt pairs each "
        f"({'varied' if settings['vary_length'] else 'fixed'} lengths), "
        f"{settings['ablation']} ablation of single edges (path patching); "
        f"{time.perf_counter() - start:.1f}s"
    )
    return EXIT_OK


# ---------------------------------------------------------------- parser


def _add_program(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "program",
        help="a library program name (see `raspc list`) or file.py:function, a function "
        "returning the program's output SOp (it may take max_seq_len)",
    )
    parser.add_argument(
        "--vocab",
        help="input tokens: comma-separated (each an int, else a float, else a string: "
        """1,2,x), a JSON list ('[0.5, 1.5, "x"]'), or @FILE holding either; default for """
        "library programs: their registry vocabulary",
    )
    parser.add_argument(
        "--max-seq-len",
        type=int,
        help="longest input (default: the registry's for library programs, else 5)",
    )
    parser.add_argument("--causal", action="store_true", help="compile a causal (masked) model")
    parser.add_argument(
        "--partial",
        action="store_true",
        help="compile even where a function raises on some inputs it can see (those inputs "
        "read as None, with a warning listing them); without it such programs are refused",
    )


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad argument raises :class:`UsageError` (one line, status 2 from
    :func:`main`) instead of printing the usage block and exiting."""

    def error(self, message: str) -> Any:
        command = self.prog.removeprefix("raspc").strip()  # "" for the top-level parser
        where = f"{command}: " if command else ""
        raise UsageError(f"{where}{message} (see `{self.prog} --help`)")


def _version() -> str:
    try:
        return importlib.metadata.version("raspc")
    except importlib.metadata.PackageNotFoundError:
        return "unknown (not installed as a package)"


_Subparsers = argparse._SubParsersAction  # the object `add_subparsers` returns

_COMMAND_HELP: dict[str, tuple[str, str]] = {
    "list": ("list the library programs", "List rasp.lib."),
    "compile": (
        "compile a program to a saved model directory",
        "Compile a program and save the model (params.npz, model.json, circuit.json).",
    ),
    "run": (
        "run a saved model on tokens",
        "Run a saved model on one input and print its outputs.",
    ),
    "inspect": (
        "show where every node lives",
        "Show the model's layers and heads and, for every node, the components "
        "computing it, its residual directions and its inputs.",
    ),
    "plot": (
        "draw the residual stream, attention, weights or circuit",
        "Draw one plot of a saved model to a .png or .svg file.",
    ),
    "verify": (
        "compile a program and check every node against the evaluator",
        "Compile a program and compare the model with rasp.evaluate at every node "
        "on every input (or a seeded sample when there are too many), and say how many inputs "
        "fell outside the program's domain and why; exit status 1 on any mismatch, and when "
        "no input is in the domain (nothing was checked).",
    ),
    "bench-circuits": (
        "score circuit-discovery methods against the compiled ground truth",
        "Run circuit-discovery methods (built-in activation and attribution "
        "patching; auto-circuit's acdc and eap when installed) on the HookedTransformer "
        "export of library programs (default: all) and optionally generated ones, and score "
        "each against raspc's edge set: ROC AUC, precision/recall at the method's threshold, "
        "and faithfulness (exact-match accuracy with every other edge resample-ablated). "
        "Needs the hooked extra (torch, transformer-lens 2.x/3.x).",
    ),
}
"""Each subcommand's one-line help (in `raspc --help`) and description (in its own --help)."""


def _command(
    sub: _Subparsers[argparse.ArgumentParser],
    name: str,
    handler: Callable[[argparse.Namespace], int],
) -> argparse.ArgumentParser:
    """Add subcommand ``name``, run by ``handler``, with its help from :data:`_COMMAND_HELP`."""
    help_line, description = _COMMAND_HELP[name]
    p = sub.add_parser(name, help=help_line, description=description)
    p.set_defaults(handler=handler)
    return p


def _add_model(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="a directory written by `raspc compile`")


def _add_list(sub: _Subparsers[argparse.ArgumentParser]) -> None:
    _command(sub, "list", _cmd_list)


def _add_compile(sub: _Subparsers[argparse.ArgumentParser]) -> None:
    p = _command(sub, "compile", _cmd_compile)
    _add_program(p)
    p.add_argument("-o", "--output", required=True, help="directory to save the model in")


def _add_run(sub: _Subparsers[argparse.ArgumentParser]) -> None:
    p = _command(sub, "run", _cmd_run)
    _add_model(p)
    p.add_argument("tokens", nargs="+", help="input tokens (without BOS), e.g. a b c or 3 1 2")
    p.add_argument(
        "--trace",
        action="store_true",
        help="also print every node's values, decoded from the residual stream after the "
        "sub-layer that writes it",
    )


def _add_inspect(sub: _Subparsers[argparse.ArgumentParser]) -> None:
    p = _command(sub, "inspect", _cmd_inspect)
    _add_model(p)
    p.add_argument("--json", action="store_true", help="print the full circuit map as JSON")


def _add_plot(sub: _Subparsers[argparse.ArgumentParser]) -> None:
    p = _command(sub, "plot", _cmd_plot)
    _add_model(p)
    p.add_argument("kind", choices=["residual", "attention", "weights", "circuit"])
    p.add_argument("-o", "--output", required=True, help="image file (.png or .svg)")
    p.add_argument("--tokens", nargs="+", help="input tokens for residual and attention plots")
    p.add_argument("--layer", type=int, default=0, help="layer for weights plots (default 0)")
    p.add_argument("--head", type=int, default=0, help="head for qk/ov weights (default 0)")
    p.add_argument("--matrix", choices=["qk", "ov", "mlp"], default="qk", help="weights plot")
    p.add_argument("--merge-mlps", action="store_true", help="circuit: one node per MLP layer")


def _add_verify(sub: _Subparsers[argparse.ArgumentParser]) -> None:
    p = _command(sub, "verify", _cmd_verify)
    _add_program(p)
    p.add_argument("--samples", type=int, default=500, help="inputs sampled when not exhaustive")
    p.add_argument("--seed", type=int, default=0, help="sampling seed")
    p.add_argument("--json", action="store_true", help="print the report as JSON")


def _add_bench_circuits(sub: _Subparsers[argparse.ArgumentParser]) -> None:
    p = _command(sub, "bench-circuits", _cmd_bench_circuits)
    p.add_argument("programs", nargs="*", help="library program names (default: every one)")
    p.add_argument(
        "--methods",
        default="patching",
        help="comma-separated methods: patching, attribution, acdc, eap (default patching)",
    )
    p.add_argument("--prompts", type=int, default=64, help="prompt pairs per program (64)")
    p.add_argument("--seed", type=int, default=0, help="prompt seed (0)")
    p.add_argument(
        "--fixed-length",
        action="store_true",
        help="every prompt max_seq_len long (default: varied lengths, so length/BOS edges count)",
    )
    p.add_argument(
        "--ablation",
        choices=["resample", "zero", "mean"],
        default="resample",
        help="what an ablated edge carries: its corrupt-prompt value (default), zero, or the "
        "token-wise mean over clean and corrupt prompts",
    )
    p.add_argument("--generated", type=int, default=0, help="also this many generated programs")
    p.add_argument("--generated-seed", type=int, default=0, help="seed of the generated programs")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1: fastest)")
    p.add_argument("--csv", help="write one row per program and method to this CSV file")
    p.add_argument("--json", help="write the full result (settings, rows, means) as JSON")
    p.add_argument("--plot", help="draw AUC and faithfulness per program (.png or .svg)")


_SUBCOMMANDS = (
    _add_list,
    _add_compile,
    _add_run,
    _add_inspect,
    _add_plot,
    _add_verify,
    _add_bench_circuits,
)


def _parser() -> argparse.ArgumentParser:
    """The `raspc` parser; each subcommand's flags live in its own `_add_*` function."""
    parser = _Parser(
        prog="raspc",
        description="Compile RASP programs into transformers whose circuits are known ground "
        "truth; run, inspect, plot and verify them.",
        epilog="Run `raspc COMMAND --help` for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"raspc {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in _SUBCOMMANDS:
        add(sub)
    return parser


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _error(message: str) -> None:
    """Exactly one line on stderr (which may itself be closed)."""
    with contextlib.suppress(OSError, ValueError):
        print(f"raspc: error: {_one_line(message)}", file=sys.stderr, flush=True)


def _show_warning(message: Any, category: Any, *args: Any, **kwargs: Any) -> None:
    with contextlib.suppress(OSError, ValueError):
        print(f"raspc: warning: {_one_line(message)}", file=sys.stderr, flush=True)


def _silence_stdout() -> None:
    """After a broken pipe, point stdout at /dev/null so the interpreter's final flush
    does not raise again."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def _run(argv: Sequence[str] | None) -> int:
    try:
        args = _parser().parse_args(argv)
    except SystemExit as done:  # --help and --version print and exit 0
        return done.code if isinstance(done.code, int) else EXIT_OK
    status = args.handler(args)
    sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's exit
    return status


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``raspc`` command line; returns the exit status (see the module doc)."""
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        try:
            return _run(argv)
        except BrokenPipeError:
            _silence_stdout()
            _error("output closed early (broken pipe); the command's output was cut off")
            return EXIT_USAGE
        except RaspcError as err:
            _error(str(err))
            return EXIT_USAGE
        except OSError as err:
            _error(f"{err.strerror or err}: {err.filename}" if err.filename else str(err))
            return EXIT_USAGE
        except KeyboardInterrupt:
            _error("interrupted")
            return 130
        except Exception as err:
            if os.environ.get("RASPC_TRACEBACK"):
                raise
            _error(
                f"internal error: {type(err).__name__}: {err} (a raspc bug: please report it "
                "with the command; RASPC_TRACEBACK=1 shows the traceback)"
            )
            return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
