"""Plan, then build: every construction states its size, float32 error and problems
before any block exists, and the size, precision and selector rules live once.

The issue's examples: ``SequenceMap(+, tokens, tokens)`` over 600 tokens was refused as
a 360,000-unit table while the block it builds has one unit per token, and
``tokens + indices`` (600 tokens, 500 positions; separable) was refused while its
staircase has 2 * 1098 + 1 = 2,197 units (1,099 distinct sums).  Both now plan and
compile at that size.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

import compiler
import rasp
from compiler import blocks, validate
from compiler.blocks import Plan, bos_direction, plan_blocks
from compiler.constructions import BY_TYPE, CONSTRUCTIONS, MAX_TABLE
from compiler.constructions import _base as constructions_base
from compiler.fuse import fuse_program
from compiler.graph import build_graph, label_program
from compiler.pairing import pair_selectors
from compiler.precision import CATEGORICAL_MARGIN, OUTPUT_TOLERANCE
from compiler.values import infer_values
from rasp.lib import LIBRARY

COMPILER = Path(compiler.__file__).parent
BIG_VOCAB = set(range(600))


def _plans(program: rasp.SOp, vocab: set, max_seq_len: int) -> dict[str, Plan]:
    """The plans of a program, from the compiler's own front end (no validation)."""
    fused = fuse_program(label_program(program))
    graph = fused.keep(build_graph(pair_selectors(fused.program)))
    values = infer_values(graph, frozenset(vocab), max_seq_len, False).sets
    return plan_blocks(graph, values, bos_direction("compiler_bos"))


def _hidden(compiled: compiler.CompiledProgram, label: str) -> int:
    return sum(b.hidden_size for b in compiled.blocks[label] if b.stage is blocks.Stage.MLP)


def _compiled_plans(compiled: compiler.CompiledProgram) -> dict[str, Plan]:
    return plan_blocks(compiled.graph, compiled.values, bos_direction(compiled.compiler_bos))


def test_sequence_map_of_one_sop_with_itself_plans_one_unit_per_value():
    program = rasp.SequenceMap(lambda x, y: x + y, rasp.tokens, rasp.tokens).named("double")
    compiled = compiler.compile_rasp(program, BIG_VOCAB, 2)
    plan = _compiled_plans(compiled)["double"]
    assert (plan.construction, plan.hidden, plan.problems) == ("diagonal lookup", 600, ())
    assert _hidden(compiled, "double") == 600  # not 600 * 600 = 360,000


def test_separable_tokens_plus_indices_plans_its_staircase():
    program = (rasp.tokens + rasp.indices).named("sum")
    compiled = compiler.compile_rasp(program, BIG_VOCAB, 500)
    plan = _compiled_plans(compiled)["sum"]
    assert plan.construction == "separable staircase"
    assert plan.hidden == 2 * (600 + 500 - 2) + 1 == 2197  # 1,099 sums: a base and 1,098 steps
    assert plan.problems == () and 0 < plan.error < CATEGORICAL_MARGIN
    assert _hidden(compiled, "sum") == 2197  # not 600 * 500 = 300,000


def test_numerical_forms_of_the_examples_drop_the_unit_that_writes_zero():
    double = rasp.numerical(rasp.SequenceMap(lambda x, y: x + y, rasp.tokens, rasp.tokens))
    assert _plans(double.named("d"), set(range(60)), 2)["d"].hidden == 59  # 0 + 0 writes 0
    total = rasp.numerical(rasp.SequenceMap(lambda x, y: x + y, rasp.tokens, rasp.indices))
    plan = _plans(total.named("t"), set(range(60)), 50)["t"]
    assert (plan.construction, plan.hidden) == ("separable staircase", 2 * 108)
    assert plan.error < OUTPUT_TOLERANCE * 108  # relative above 1, as the rule says


def test_a_table_over_the_limit_is_refused_once_with_validations_problems(monkeypatch):
    # the limit lowered from 250,000 so the table stays quick to infer: 40 x 30 = 1,200
    monkeypatch.setattr(constructions_base, "MAX_TABLE", 1000)
    vocab = set(range(40))
    big = rasp.SequenceMap(lambda x, y: (x * y) % 7, rasp.tokens, rasp.indices).named("big")
    plan = _plans(big, vocab, 30)["big"]
    assert (plan.construction, plan.hidden, plan.steps) == ("pair lookup table", 1200, ())
    assert plan.blocks() == []
    ones = rasp.numerical(rasp.Map(lambda t: 1, rasp.tokens))
    empty = rasp.Select(rasp.indices, rasp.indices, rasp.Comparison.LT)
    bad = rasp.numerical(rasp.Aggregate(empty, ones, default="none")).named("bad")
    program = rasp.SequenceMap(lambda a, b: a, big, rasp.Map(lambda v: 0, bad)).named("both")
    with pytest.raises(rasp.UnsupportedProgramError) as err:
        compiler.compile_rasp(program, vocab, 30)
    labels = [label for label, _ in err.value.problems]
    # validation's problems, then the plan's, in one error
    assert set(labels) == {"bad", "big"} and labels[-1] == "big"
    assert "1,200 hidden units (over 1,000)" in err.value.problems[-1][1]


def test_a_precision_problem_is_the_plans_with_its_estimate():
    frac = rasp.numerical(
        rasp.Aggregate(
            rasp.Select(rasp.indices, rasp.indices, rasp.Comparison.LEQ),
            rasp.numerical(rasp.Map(lambda t: 1 if t == "x" else 0, rasp.tokens)),
            default=0,
        )
    ).named("frac")
    jumpy = rasp.numerical(rasp.Map(lambda v: 1e6 * (round(v * 2520) % 2), frac)).named("jumpy")
    calm = rasp.numerical(rasp.Map(lambda v: round(v * 2520) % 2, frac)).named("calm")
    bad, good = _plans(jumpy, {"a", "x"}, 8)["jumpy"], _plans(calm, {"a", "x"}, 8)["calm"]
    assert bad.construction == good.construction == "numerical staircase"
    assert bad.hidden == good.hidden > 0 and bad.steps == ()
    assert bad.error > 1 and "float32" in bad.problems[0][1]
    assert good.problems == () and good.error < OUTPUT_TOLERANCE


@pytest.mark.parametrize("name", sorted(LIBRARY))
def test_library_plans_state_the_sizes_their_blocks_have(name):
    entry = LIBRARY[name]
    compiled = compiler.compile_rasp(entry.build(entry.max_seq_len), set(entry.vocab), 5)
    plans = plan_blocks(compiled.graph, compiled.values, bos_direction(compiled.compiler_bos))
    assert set(plans) == set(compiled.blocks)
    for label, plan in plans.items():
        built = compiled.blocks[label]
        assert plan.ok and plan.node == label
        assert plan.hidden == _hidden(compiled, label), label
        assert plan.heads == sum(b.stage is blocks.Stage.ATTN for b in built), label
        assert [type(b) for b in plan.blocks()] == [type(b) for b in built]


def test_each_selector_is_planned_once_and_validation_does_not_plan_it(monkeypatch):
    calls: list[str] = []
    real = blocks.plan_selector

    def counting(sel):
        calls.append(sel.label)
        return real(sel)

    monkeypatch.setattr(blocks, "plan_selector", counting)
    select = rasp.Select(rasp.tokens, rasp.tokens, rasp.Comparison.LEQ).named("leq")
    width = rasp.SelectorWidth(select).named("width")
    mean = rasp.numerical(rasp.Aggregate(select, rasp.numerical(width), default=0)).named("m")
    compiler.compile_rasp(
        rasp.numerical(rasp.SequenceMap(lambda a, b: a + b, width, mean)), {1, 2}, 3
    )
    assert calls == ["leq"]
    assert "plan_selector" not in inspect.getsource(validate)


def _calls(path: Path, name: str) -> int:
    tree = ast.parse(path.read_text())
    return sum(
        (isinstance(node, ast.Call) and getattr(node.func, "id", None) == name)
        or (
            isinstance(node, ast.Compare)
            and any(getattr(c, "id", None) == name for c in node.comparators)
        )
        for node in ast.walk(tree)
    )


def test_size_and_precision_rules_are_stated_once():
    assert MAX_TABLE == 250_000
    sources = sorted(COMPILER.rglob("*.py"))
    compare_to_limit = {p.name: _calls(p, "MAX_TABLE") for p in sources if _calls(p, "MAX_TABLE")}
    assert compare_to_limit == {"_base.py": 1}  # size_problem
    judged = {p.name: _calls(p, "judge_staircase") for p in sources if _calls(p, "judge_staircase")}
    assert judged == {"_staircase.py": 1}
    estimated = {p.name for p in sources if _calls(p, "worst_error")}
    assert estimated == {"precision.py"}  # only judge_staircase uses the estimate
    assert _calls(COMPILER / "validate.py", "size_problem") == 0


def test_constructions_are_ranked_without_ties_and_all_reachable():
    names = [c.name for c in CONSTRUCTIONS]
    assert len(names) == len(set(names)) >= 12
    for node_type, found in BY_TYPE.items():
        ranks = [c.rank for c in found]
        assert ranks == sorted(set(ranks)), node_type
    used = set()
    for entry in LIBRARY.values():
        compiled = compiler.compile_rasp(entry.build(5), set(entry.vocab), 5)
        plans = plan_blocks(compiled.graph, compiled.values, bos_direction("compiler_bos"))
        used |= {plan.construction for plan in plans.values()}
    extra = {
        "linear combination": rasp.numerical(
            rasp.LinearSequenceMap(rasp.numerical(rasp.Map(float, rasp.tokens)), rasp.tokens, 2, 1)
        ),
        "gated staircases": rasp.numerical(
            rasp.SequenceMap(
                lambda x, y: x * y, rasp.numerical(rasp.Map(float, rasp.tokens)), rasp.indices
            )
        ),
        "separable staircase": rasp.tokens + rasp.indices,
        "diagonal lookup": rasp.SequenceMap(lambda x, y: x - y, rasp.tokens, rasp.tokens),
        "length (width of everything)": rasp.Map(lambda n: n + 1, rasp.length),
        "pairing (zip) lookup": rasp.SelectorWidth(
            rasp.Select(rasp.tokens, rasp.tokens, rasp.Comparison.EQ)
            | rasp.Select(rasp.indices, rasp.indices, rasp.Comparison.LT)
        ),
        "pair lookup table": rasp.SequenceMap(lambda x, y: x * y, rasp.tokens, rasp.indices),
    }
    for want, program in extra.items():
        plans = _plans(program, set(range(1, 9)), 8)
        assert want in {plan.construction for plan in plans.values()}
        used.add(want)
    assert used == set(names), set(names) - used
