"""Differential fuzzing: random RASP programs through raspc (and Tracr), counted by outcome.

    python benchmarks/fuzz.py --programs 2000 --seed 0
    python benchmarks/fuzz.py --programs 2000 --tracr --tracr-programs 200

Each program comes from :func:`rasp.generate.generate_programs` (small
vocabularies and lengths, so every input is checked).  raspc either compiles
it, and then the model must match the evaluator at *every node* on every input
(``models.verification.verify``), or refuses it at compile time with a
``CompileError``.  Anything else is a compiler bug: a node that decodes wrong
is *miscompiled*, and an exception that is not a ``CompileError`` (an internal
``KeyError`` and the like) is a *crash*, also counted as miscompiled.

Refusals are grouped by reason, with labels, values and numbers stripped, so
the most common limitation is the top line.  With ``--tracr`` the first
``--tracr-programs`` programs (Tracr compiles take 1-2 s each) are also built
through Tracr's API (:func:`rasp.generate.to_tracr`), compiled by Tracr, run,
and compared with Tracr's own evaluator: compiled, refused (its deliberate
errors: ``NotImplementedError``, or a ``ValueError``/``TypeError`` raised in
Tracr's compiler), crashed (any other exception) or silently wrong.

By default models run eagerly (``jax.disable_jit``) with their widths
zero-padded to a few fixed sizes (:func:`bucketed`), so thousands of programs
share a handful of compiled kernels: about 0.1 s a program instead of the
~0.5 s that jit-compiling each model costs.  ``--jit`` runs every model
exactly as compiled, jitted.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import dataclasses
import itertools
import re
import sys
import time
import traceback
import warnings
from collections.abc import Iterable, Iterator
from typing import Any

import jax
import numpy as np

import compiler
from models.compiled import CompiledModel
from models.verification import input_space, values_match, verify
from rasp.errors import CompileError
from rasp.generate import GeneratedProgram, generate_programs, to_tracr

__all__ = ["Outcome", "check_raspc", "check_tracr", "normalise_reason", "main"]

SHAPE = {"depth": (1, 5), "size": (1, 8), "vocab_size": (2, 3), "max_seq_len": (3, 5)}
"""Program shapes the fuzzer draws: small enough to check every input of every program
(at most 363), large enough for long chains and many-valued means."""


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What one system did with one program.

    ``status`` is one of ``compiled``, ``refused``, ``miscompiled`` or ``crashed``
    (Tracr: ``wrong`` instead of ``miscompiled``); ``reasons`` are the normalised
    refusal reasons; ``detail`` says what went wrong, for the report.
    """

    status: str
    reasons: tuple[str, ...] = ()
    detail: str = ""
    checked: int = 0  # inputs compared (those inside the program's domain)
    labels: tuple[str, ...] = ()  # raspc refusals: the labels the problems name
    compile_s: float = 0.0  # raspc: seconds to compile (refusals included)
    run_s: float = 0.0  # raspc: seconds to run and verify the model on its inputs


_OBJECT = re.compile(r"<[^<>]* at 0x[0-9a-fA-F]+>")
_LABEL = re.compile(r"\b[A-Za-z]\w*?_\d+\b")
_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")
_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:[.,]\d+)*(?:e[+-]?\d+)?(?![\w])")
_PARENS = re.compile(r"\([^()]*\)")


def normalise_reason(reason: str) -> str:
    """A refusal reason without its specifics: the part before the fix (``;``), with
    quoted labels and values, parenthesised lists and numbers replaced by placeholders."""
    text = reason.split(";")[0].strip()
    text = _OBJECT.sub("<object>", text)
    text = _QUOTED.sub("<x>", text)
    text = _PARENS.sub("(...)", text)
    text = _LABEL.sub("<label>", text)
    text = _NUMBER.sub("N", text)
    return re.sub(r"\s+", " ", text)


def _up(n: int, floor: int) -> int:
    size = floor
    while size < n:
        size *= 2
    return size


BATCH = 128
"""Rows per forward pass of a bucketed model (the whole input space of the fuzzer's shapes)."""


class _Bucketed(CompiledModel):
    """Runs inputs in fixed batches of :data:`BATCH` rows (padding rows repeat the first
    input and are dropped from what is yielded), so every call has the same batch shape."""

    def run_chunks(self, batch, chunk: int = BATCH, keep=()):
        n = len(batch)
        padded = [*batch, *[batch[0]] * (-n % BATCH)] if n else []
        start = 0
        for part, out, extras in super().run_chunks(padded, BATCH, keep):
            k = max(0, min(len(part), n - start))
            start += len(part)
            trimmed = jax.tree_util.tree_map(lambda a: a[:k], extras)
            yield part[:k], out[:k], trimmed


def bucketed(model: CompiledModel) -> CompiledModel:
    """The same function with its widths zero-padded to a few fixed sizes.

    Eager jax compiles one kernel per operation *shape*; padding d_model, heads, key
    size, MLP width and vocabulary to powers of two (and batches to :data:`BATCH`)
    lets thousands of different programs share a handful of kernels.  Padded rows
    and columns are zero, so every residual value is unchanged; the query weights
    are scaled by ``sqrt(K_padded / K)`` because the model divides logits by
    ``sqrt(key_size)``.
    """
    cfg = model.model_config
    d, h, k, m, v = cfg.d_model, cfg.num_heads, cfg.key_size, cfg.mlp_hidden_size, cfg.vocab_size
    dp, hp, kp, mp, vp = _up(d, 64), _up(h, 2), _up(k, 16), _up(m, 32), _up(v, 8)

    def pad(a: Any, shape: tuple[int, ...]) -> np.ndarray:
        out = np.zeros(shape, np.float32)
        a = np.asarray(a, np.float32)
        out[tuple(slice(0, n) for n in a.shape)] = a
        return out

    p = model.params
    params = {
        "token_embed": {"embeddings": pad(p["token_embed"]["embeddings"], (vp, dp))},
        "pos_embed": {"embeddings": pad(p["pos_embed"]["embeddings"], (cfg.max_seq_len + 1, dp))},
    }
    for layer in range(cfg.num_layers):
        attn = f"transformer/layer_{layer}/attn/"
        for name in ("query", "key", "value"):
            w = np.asarray(p[attn + name]["w"]).reshape(d, h, k)
            if name == "query":
                w = w * np.sqrt(kp / k)
            params[attn + name] = {
                "w": pad(w, (dp, hp, kp)).reshape(dp, hp * kp),
                "b": np.zeros(hp * kp, np.float32),
            }
        w = np.asarray(p[attn + "linear"]["w"]).reshape(h, k, d)
        params[attn + "linear"] = {
            "w": pad(w, (hp, kp, dp)).reshape(hp * kp, dp),
            "b": pad(p[attn + "linear"]["b"], (dp,)),
        }
        mlp = f"transformer/layer_{layer}/mlp/"
        params[mlp + "linear_1"] = {
            "w": pad(p[mlp + "linear_1"]["w"], (dp, mp)),
            "b": pad(p[mlp + "linear_1"]["b"], (mp,)),
        }
        params[mlp + "linear_2"] = {
            "w": pad(p[mlp + "linear_2"]["w"], (mp, dp)),
            "b": pad(p[mlp + "linear_2"]["b"], (dp,)),
        }
    config = dataclasses.replace(
        cfg, d_model=dp, num_heads=hp, key_size=kp, mlp_hidden_size=mp, vocab_size=vp
    )
    return _Bucketed(params=params, model_config=config, layout=model.layout, program=model.program)


def _print_costs(ours: list[tuple[GeneratedProgram, Outcome]]) -> None:
    """The worst compile time and the slowest run-and-verify throughput (inputs/s)."""
    slowest = max(ours, key=lambda pair: pair[1].compile_s)
    ran = [(g, o) for g, o in ours if o.run_s > 0 and o.checked > 0]
    print(f"raspc worst compile time: {slowest[1].compile_s:.2f} s (seed {slowest[0].seed})")
    if ran:
        g, o = min(ran, key=lambda pair: pair[1].checked / pair[1].run_s)
        print(
            f"raspc slowest run+verify: {o.checked / o.run_s:.0f} inputs/s "
            f"({o.checked} inputs in {o.run_s:.2f} s, seed {g.seed})"
        )


def check_raspc(generated: GeneratedProgram, *, eager: bool = True) -> Outcome:
    """Compile with raspc and verify every node on every input (see module docstring)."""
    return _check_raspc(generated, eager, time.perf_counter())


def _check_raspc(generated: GeneratedProgram, eager: bool, start: float) -> Outcome:
    try:
        model = compiler.compile_rasp_to_model(
            generated.program, set(generated.vocab), generated.max_seq_len
        )
    except CompileError as exc:
        reasons = tuple(sorted({normalise_reason(reason) for _, reason in exc.problems}))
        labels = tuple(label for label, _ in exc.problems)
        spent = time.perf_counter() - start
        return Outcome("refused", reasons, str(exc), labels=labels, compile_s=spent)
    except Exception:
        return Outcome("crashed", detail=f"compile: {traceback.format_exc(limit=-4)}")
    compiled_at = time.perf_counter()
    times = {"compile_s": compiled_at - start}
    try:
        report, rounded = _verify_all(model if not eager else bucketed(model), eager)
    except Exception:
        return Outcome("crashed", detail=f"verify: {traceback.format_exc(limit=-4)}")
    times["run_s"] = time.perf_counter() - compiled_at
    if not report.ok:
        detail = str(report.first_failure)
        return Outcome("miscompiled", detail=detail, checked=report.checked, **times)
    note = f"{rounded} inputs equal only up to float rounding inside tuples" if rounded else ""
    return Outcome("compiled", detail=note, checked=report.checked + rounded, **times)


def nested_match(expected: Any, got: Any) -> bool:
    """``values_match``, also inside tuples: value sets merge floats that differ only by
    rounding, so a tuple built from one holds the twin the compiler kept (verify compares
    tuples exactly; see the report)."""
    if isinstance(expected, tuple) and isinstance(got, tuple):
        return len(expected) == len(got) and all(map(nested_match, expected, got))
    return values_match(expected, got)


def _verify_all(model: CompiledModel, eager: bool) -> tuple[Any, int]:
    """``verify`` on every input, and how many inputs failed only by rounding inside
    tuples.  Such inputs are dropped and the rest re-verified, so a real mismatch
    behind one still shows."""
    inputs = input_space(model.layout.vocab, model.layout.max_seq_len)
    rounded = 0
    while True:
        with jax.disable_jit() if eager else contextlib.nullcontext():
            report = verify(model, inputs)
        benign = [
            f.input
            for f in report.failures
            if len(f.expected) == len(f.got) and all(map(nested_match, f.expected, f.got))
        ]
        if report.ok or len(benign) < len(report.failures):
            return report, rounded
        inputs = [xs for xs in inputs if xs not in benign]
        rounded += len({tuple(xs) for xs in benign})


def _tracr_refusal(exc: BaseException) -> bool:
    """Tracr's deliberate errors: NotImplementedError, or a ValueError / TypeError that
    its own compiler code raised (the innermost frame is in Tracr)."""
    if isinstance(exc, NotImplementedError):
        return True
    if not isinstance(exc, (ValueError, TypeError)):
        return False
    frames = traceback.extract_tb(exc.__traceback__)
    return bool(frames) and "/tracr/" in frames[-1].filename.replace("\\", "/")


def _tracr_expected(program: Any, xs: list) -> list | None:
    from tracr.rasp import rasp as trasp

    try:
        out = trasp.evaluate(program, xs)
    except Exception:  # Tracr's evaluator rejects the input (e.g. None in a comparison)
        return None
    return list(out) if len(out) == len(xs) else None


def check_tracr(generated: GeneratedProgram) -> Outcome:
    """Build the program through Tracr's API, compile it with Tracr, run it on every
    input and compare with Tracr's evaluator (numbers within 1e-4)."""
    import jax.numpy as jnp
    from absl import logging as absl_logging  # Tracr's logger: quiet its style warnings
    from tracr.compiler import compiling

    absl_logging.set_verbosity(absl_logging.ERROR)

    program = to_tracr(generated)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = compiling.compile_rasp_to_model(
                program,
                vocab=set(generated.vocab),
                max_seq_len=generated.max_seq_len,
                compiler_bos="compiler_bos",
            )
    except Exception as exc:
        reasons = _tracr_reasons(exc)
        status = "refused" if _tracr_refusal(exc) else "crashed"
        return Outcome(status, reasons, f"{type(exc).__name__}: {exc}")
    inputs = input_space(generated.vocab, generated.max_seq_len)
    by_length: dict[int, list[tuple[list, list]]] = collections.defaultdict(list)
    for xs in inputs:
        want = _tracr_expected(program, xs)
        if want is not None:
            by_length[len(xs)].append((xs, want))
    checked = 0
    wrong: list[tuple[bool, str]] = []  # (only where the evaluator says None, what)
    try:
        for rows in by_length.values():  # same length: one batch, as model.apply runs each
            ids = [model.input_encoder.encode(["compiler_bos", *xs]) for xs, _ in rows]
            out = model.forward(model.params, jnp.asarray(ids))
            unembedded = np.asarray(out.unembedded_output)
            for (xs, want), row in zip(rows, unembedded):
                got = row.tolist()
                if model.output_encoder is not None:
                    got = model.output_encoder.decode(got)
                got = got[1:]
                checked += 1
                bad = [a for a, b in zip(want, got) if not nested_match(a, b)]
                if bad:
                    what = f"input {xs}: evaluator {want}, model {got}"
                    wrong.append((all(a is None for a in bad), what))
    except Exception as exc:
        what = f"run {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        return Outcome("crashed", (normalise_reason(what),), what)
    if wrong:
        none_only = all(n for n, _ in wrong)
        first = next((w for n, w in wrong if not n), wrong[0][1])
        reason = "wrong only where the evaluator gives None" if none_only else "wrong values"
        return Outcome("wrong", (reason,), first, checked)
    return Outcome("compiled", checked=checked)


def _tracr_reasons(exc: BaseException) -> tuple[str, ...]:
    """Normalised reasons of a Tracr error; its 'Unsupported RASP expressions' lists one
    ``label: reason`` line per expression."""
    args = exc.args
    text = args[0] if args and isinstance(args[0], str) else str(exc)  # some raise (msg, data)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    name = type(exc).__name__
    if len(lines) > 1 and lines[0].startswith("Unsupported RASP expressions"):
        return tuple(
            sorted({normalise_reason(f"{name}: {line.partition(': ')[2]}") for line in lines[1:]})
        )
    return (normalise_reason(f"{name}: {lines[0] if lines else ''}"),)


def _progress(items: Iterable[Any], total: int, desc: str) -> Iterator[Any]:
    try:
        from tqdm import tqdm
    except ImportError:
        yield from items
        return
    yield from tqdm(items, total=total, desc=desc, file=sys.stderr, leave=False)


def _summary(outcomes: list[tuple[GeneratedProgram, Outcome]]) -> collections.Counter:
    return collections.Counter(o.status for _, o in outcomes)


def _print_reasons(outcomes: list[tuple[GeneratedProgram, Outcome]], statuses: set[str]) -> None:
    reasons: collections.Counter[str] = collections.Counter()
    for _, o in outcomes:
        if o.status in statuses:
            reasons.update(o.reasons or ("(no reason given)",))
    for reason, count in reasons.most_common():
        print(f"{count:6d}  {reason}")


def _print_failures(
    outcomes: list[tuple[GeneratedProgram, Outcome]], statuses: set[str], limit: int
) -> None:
    bad = [(g, o) for g, o in outcomes if o.status in statuses]
    for g, o in bad[:limit]:
        print(f"--- seed {g.seed} ({o.status}), vocab {g.vocab}, max_seq_len {g.max_seq_len}")
        print(g.source())
        print(o.detail.rstrip())
    if len(bad) > limit:
        print(f"... and {len(bad) - limit} more")


def main(argv: list[str] | None = None) -> int:
    """Run the fuzzer; exit status 1 when raspc miscompiled or crashed on any program."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--programs", type=int, default=500, help="programs for raspc")
    parser.add_argument("--seed", type=int, default=0, help="seed of the program set")
    parser.add_argument("--tracr", action="store_true", help="also run Tracr")
    parser.add_argument(
        "--tracr-programs", type=int, default=200, help="programs for Tracr (default 200)"
    )
    parser.add_argument("--jit", action="store_true", help="run raspc models jitted")
    parser.add_argument("--show", type=int, default=5, help="failing programs to print")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    generated = generate_programs(args.programs, args.seed, **SHAPE)
    ours = [
        (g, check_raspc(g, eager=not args.jit))
        for g in _progress(generated, args.programs, "raspc")
    ]
    counts = _summary(ours)
    print(f"raspc refusal reasons (programs per reason, seed {args.seed}):")
    _print_reasons(ours, {"refused"})
    crashed = [o for _, o in ours if o.status == "crashed"]
    if crashed:
        print(f"raspc crashed on {len(crashed)} programs (counted as miscompiled):")
        _print_failures(ours, {"crashed"}, args.show)
    if counts["miscompiled"]:
        print(f"raspc miscompiled {counts['miscompiled']} programs:")
        _print_failures(ours, {"miscompiled"}, args.show)
    vacuous = sum(1 for _, o in ours if o.status == "compiled" and o.checked == 0)
    rounded = sum(1 for _, o in ours if o.status == "compiled" and o.detail)
    print(
        f"raspc: {vacuous} compiled programs had no input inside their domain, {rounded} "
        "matched only up to float rounding inside tuples; "
        f"{time.perf_counter() - start:.0f} s"
    )
    _print_costs(ours)

    if args.tracr:
        n = min(args.tracr_programs, args.programs)
        print(
            f"Tracr on the first {n} of the {args.programs} programs "
            "(--tracr-programs; Tracr compiles take 1-2 s each):"
        )
        subset = list(itertools.islice(generate_programs(n, args.seed, **SHAPE), n))
        theirs = [(g, check_tracr(g)) for g in _progress(subset, n, "tracr")]
        print("Tracr refusal reasons (programs per reason):")
        _print_reasons(theirs, {"refused"})
        print("Tracr crashes (exceptions that are not deliberate refusals):")
        _print_reasons(theirs, {"crashed"})
        print("Tracr silently wrong outputs:")
        _print_reasons(theirs, {"wrong"})
        if args.show:
            _print_failures(theirs, {"wrong"}, min(args.show, 3))
        t = _summary(theirs)
        o = _summary(ours[:n])
        print(
            f"raspc on the same {n}: compiled {o['compiled']}, refused {o['refused']}, "
            f"miscompiled {o['miscompiled'] + o['crashed']}"
        )
        print(
            f"tracr programs {n}, compiled {t['compiled']}, refused {t['refused']}, "
            f"crashed {t['crashed']}, silently wrong {t['wrong']}"
        )

    miscompiled = counts["miscompiled"] + counts["crashed"]
    print(
        f"programs {args.programs}, compiled {counts['compiled']}, "
        f"refused {counts['refused']}, miscompiled {miscompiled}"
    )
    return 1 if miscompiled else 0


if __name__ == "__main__":
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        sys.exit(main())
