"""Faithfulness at scale: random programs, each compiled exactly or refused with a reason.

240 programs from :func:`rasp.generate.generate_programs` (2-3 tokens, inputs up
to 3-4 long, so every input is checked) go through the same check as
``benchmarks/fuzz.py``: compile, then the model must match the evaluator at
every node on every input; or a ``CompileError`` whose problems name nodes of
the program.  Any other exception from the compiler fails the test.  A
hypothesis property runs the same check on programs it draws (and shrinks).

The generator itself is tested too: it is reproducible, its printed source
rebuilds the program, it covers every primitive, and its Tracr twin means the
same thing as ours.
"""

from __future__ import annotations

import collections
import importlib.util
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

import compiler
import rasp
from models.verification import input_space
from rasp.generate import OPS, Fn, GeneratedProgram, generate_program, generate_programs, programs


def _load_fuzz():
    """benchmarks/fuzz.py, imported from its path (benchmarks is not a package), so the
    test and the fuzzer judge programs with one and the same code."""
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "fuzz.py"
    spec = importlib.util.spec_from_file_location("raspc_fuzz", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


fuzz = _load_fuzz()

COUNT = 240
SEED = 2024
SHAPE = {"depth": (1, 4), "size": (1, 6), "vocab_size": (2, 3), "max_seq_len": (3, 4)}
"""Smaller than the fuzzer's shapes, so the whole file stays well under a minute."""
PROGRAMS = list(generate_programs(COUNT, SEED, **SHAPE))


def _labels(program: rasp.RASPExpr) -> set[str]:
    """The labels the compiler gives the program's own nodes (names, deduplicated)."""
    return set(rasp.assign_labels(program).values())


def _assert_faithful(generated: GeneratedProgram) -> fuzz.Outcome:
    outcome = fuzz.check_raspc(generated)
    where = (
        f"seed {generated.seed}, vocab {generated.vocab}, max_seq_len {generated.max_seq_len}"
        f"\n{generated.source()}\n{outcome.detail}"
    )
    assert outcome.status in ("compiled", "refused"), f"{outcome.status}: {where}"
    if outcome.status == "refused":
        assert outcome.labels and set(outcome.labels) <= _labels(generated.program), where
        assert all(outcome.reasons), where
    return outcome


@pytest.mark.parametrize("generated", PROGRAMS, ids=lambda g: f"seed{g.seed}")
def test_generated_program_compiles_exactly_or_is_refused(generated: GeneratedProgram):
    _assert_faithful(generated)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs(depth=(1, 3), size=(1, 5), vocab_size=(2, 3), max_seq_len=(3, 4)))
def test_hypothesis_programs_compile_exactly_or_are_refused(generated: GeneratedProgram):
    _assert_faithful(generated)


def test_most_generated_programs_compile_and_have_inputs_in_their_domain():
    refused = vacuous = 0
    for generated in PROGRAMS:
        try:
            compiled = compiler.compile_rasp(
                generated.program, set(generated.vocab), generated.max_seq_len
            )
        except rasp.CompileError:
            refused += 1
            continue
        del compiled
        inputs = input_space(generated.vocab, generated.max_seq_len)
        in_domain = 0
        for xs in inputs:
            try:
                rasp.evaluate(generated.program, xs)
                in_domain += 1
            except rasp.EvaluationError:
                pass
        vacuous += in_domain == 0
    assert refused <= COUNT // 10, f"{refused} of {COUNT} programs refused"
    assert vacuous <= COUNT // 20, f"{vacuous} of {COUNT} programs have no valid input"


def test_bucketed_model_runs_like_the_model_it_pads():
    # the fuzzer's fast path pads widths and batches; outputs must not change
    for generated in PROGRAMS[:3]:
        try:
            model = compiler.compile_rasp_to_model(
                generated.program, set(generated.vocab), generated.max_seq_len
            )
        except rasp.CompileError:
            continue
        inputs = input_space(generated.vocab, generated.max_seq_len)[:40]
        ours = fuzz.bucketed(model).run_batch(inputs)
        theirs = model.run_batch(inputs)
        for a, b in zip(ours, theirs, strict=True):
            assert all(fuzz.values_match(x, y) for x, y in zip(a, b, strict=True))


# ---------------------------------------------------------------- the generator


def test_same_seed_same_program_and_different_seeds_differ():
    a = generate_program(11, depth=3, size=5)
    b = generate_program(11, depth=3, size=5)
    assert a == b and a.source() == b.source()
    assert a.program is not b.program
    sources = {generate_program(s, depth=3, size=5).source() for s in range(30)}
    assert len(sources) > 25


def test_source_rebuilds_the_same_program():
    for generated in PROGRAMS[:40]:
        namespace: dict = {"rasp": rasp}
        exec(generated.source(), namespace)
        rebuilt = namespace[f"s{len(generated.steps) - 1}"]
        for xs in input_space(generated.vocab, generated.max_seq_len)[:30]:
            try:
                want = rasp.evaluate(generated.program, xs)
            except rasp.EvaluationError:
                continue
            assert rasp.evaluate(rebuilt, xs) == want, generated.source()


def test_fn_is_pure_source_text():
    fn = Fn("lambda x: (2 * x + 1) % 3")
    assert fn(4) == 0 and repr(fn) == "lambda x: (2 * x + 1) % 3"
    assert fn == Fn("lambda x: (2 * x + 1) % 3") and hash(fn) == hash(Fn(fn.source))
    with pytest.raises(NameError):
        Fn("lambda x: open('f')")(1)  # no builtins beyond a few pure ones


def test_generator_covers_every_primitive():
    seen: collections.Counter = collections.Counter()
    for generated in generate_programs(400, 5, **SHAPE):
        for step in generated.steps:
            seen[step.op] += 1
            if step.op == "select":
                seen["callable" if step.fn is not None else step.comparison] += 1
            if step.op == "aggregate":
                seen["numerical_aggregate" if step.numerical else "categorical_aggregate"] += 1
            if step.numerical and step.op in ("map", "sequence_map"):
                seen[f"numerical_{step.op}"] += 1
            seen["named" if step.name else "unnamed"] += 1
        kinds = {type(v).__name__ for v in generated.vocab}
        seen["vocab:" + "+".join(sorted(kinds))] += 1
    wanted = [
        *OPS,
        *(c.name for c in rasp.Comparison),
        "callable",
        "numerical_aggregate",
        "categorical_aggregate",
        "numerical_map",
        "numerical_sequence_map",
        "named",
        "unnamed",
        "vocab:int",
        "vocab:str",
        "vocab:int+str",
    ]
    missing = [w for w in wanted if not seen[w]]
    assert not missing, f"never generated: {missing}"


def test_tracr_twin_means_the_same_program():
    trasp = pytest.importorskip("tracr.rasp.rasp")
    from rasp.generate import to_tracr

    compared = 0
    for generated in PROGRAMS[:60]:
        theirs = to_tracr(generated)
        assert isinstance(theirs, trasp.SOp)
        for xs in input_space(generated.vocab, generated.max_seq_len)[:20]:
            try:
                every = rasp.evaluate_all(generated.program, xs)
            except rasp.EvaluationError:
                continue
            if any(
                not hasattr(v, "shape") and None in v for v in every.values()
            ):  # None semantics differ by design (see test_tracr_agreement)
                continue
            try:
                got = trasp.evaluate(theirs, xs)
            except Exception:
                continue  # Tracr's evaluator rejects what ours accepts (e.g. string means)
            want = rasp.evaluate(generated.program, xs)  # labels: see rasp.assign_labels
            if len(got) != len(want):
                continue  # Tracr does not cut ConstantSOp to the input's length
            assert all(fuzz.values_match(a, b) for a, b in zip(want, got)), generated.source()
            compared += 1
    assert compared > 300


def test_fuzzer_compares_tuples_up_to_float_rounding_only():
    assert fuzz.nested_match((0.1 + 0.2, "a"), (0.3, "a"))
    assert not fuzz.nested_match((1, "a"), (2, "a"))
    assert not fuzz.nested_match((1, "a"), (1, "b"))
    assert not fuzz.nested_match((1, None), (1, 0))
