"""``verify`` cannot pass vacuously: it says what it compared, what fell outside the
program's domain and why, and whether it saw every input or a sample."""

from __future__ import annotations

import pytest

import compiler
import rasp
from models.verification import (
    NodeFailure,
    Report,
    merge_reports,
    outside_reason,
    plan_inputs,
    verify,
)
from rasp.errors import EvaluationError, RaspcWarning


def _always_raises():
    """A Map that raises on every token, compiled with partial=True (read as None)."""
    return rasp.Map(lambda x: 1 / 0, rasp.tokens).named("boom")


def _mixed():
    """A categorical Aggregate that combines different values on every input longer than 1."""
    sel = rasp.Select(rasp.indices, rasp.indices, rasp.Comparison.TRUE)
    return rasp.Aggregate(sel, rasp.indices).named("mixed")


@pytest.fixture(scope="module")
def boom():
    with pytest.warns(RaspcWarning):
        return compiler.compile_rasp_to_model(_always_raises(), {"a", "b"}, 3, partial=True)


def test_verify_passed_vacuously_with_0_inputs_in_domain(boom):
    # `Map(lambda x: 1/0)`: "OK — 0 inputs checked (14 outside the domain)", exit 0.
    with pytest.warns(RaspcWarning, match="compared nothing: all 14 inputs"):
        report = verify(boom)
    assert report.vacuous and not report.passed
    assert report.ok  # nothing disagreed, but nothing was compared either
    assert (report.checked, report.out_of_domain) == (0, 14)
    assert "nothing was checked" in str(report) and "0 nodes compared" in str(report)
    data = report.to_dict()
    assert data["passed"] is False and data["vacuous"] is True


def test_outside_inputs_are_counted_by_reason(boom):
    with pytest.warns(RaspcWarning):
        report = verify(boom)
    ((reason,),) = [(o.reason,) for o in report.outside]
    assert reason == "boom: the function raised ZeroDivisionError(division by zero)"
    assert report.outside[0].count == 14 and report.outside[0].example == ["a"]
    assert "14 x boom: the function raised ZeroDivisionError" in str(report)


def test_partly_outside_domain_passes_and_says_how_much_was_outside():
    model = compiler.compile_rasp_to_model(_mixed(), {"a", "b"}, 3)
    report = verify(model)
    assert report.passed and (report.checked, report.out_of_domain) == (2, 12)
    (outside,) = report.outside
    assert outside.reason.startswith("mixed: a categorical Aggregate needs")
    assert outside.count == 12 and len(outside.example) >= 2
    assert "selects" in outside.message  # the evaluator's full message is kept


def test_report_says_exhaustive_or_sampled_and_how_many_of_how_many():
    program = rasp.Map(lambda x: x, rasp.tokens).named("same")
    model = compiler.compile_rasp_to_model(program, {"a", "b", "c"}, 4)
    full = verify(model)
    assert full.exhaustive is True and full.space_size == 3 + 9 + 27 + 81
    assert full.coverage == "exhaustive: all 120 inputs"
    plan = plan_inputs(["a", "b", "c"], 4, exhaustive_limit=50, samples=30, seed=3)
    assert not plan.exhaustive and plan.space_size == 120 and len(plan.inputs) == 30
    sampled = verify(model, plan)
    assert sampled.exhaustive is False and sampled.coverage == "sampled: 30 of 120 inputs"
    assert str(sampled).startswith("sampled: 30 of 120 inputs;")
    given = verify(model, [["a"], ["b", "c"]])
    assert given.exhaustive is None and given.coverage == "2 given inputs"


def test_none_outputs_are_counted():
    prev = rasp.Select(rasp.indices, rasp.indices, lambda k, q: k == q - 1)
    program = rasp.Aggregate(prev, rasp.tokens).named("prev")  # None at position 0
    model = compiler.compile_rasp_to_model(program, {"a", "b"}, 2)
    report = verify(model)
    assert report.passed and report.none_outputs == 2  # the two inputs of length 1
    assert "2 checked inputs give None at every position" in str(report)


def test_merge_reports_adds_counts_and_reasons():
    fail = NodeFailure("x", ["a"], [1], [2])
    first = Report(3, 1, ("x",), (fail,), outside=(), none_outputs=1)
    second = merge_reports([first, Report(2, 0, ("x",), ())], ("x",), exhaustive=True)
    assert (second.checked, second.out_of_domain, second.none_outputs) == (5, 1, 1)
    assert second.failures == (fail,) and second.exhaustive is True and not second.ok


def test_outside_reason_drops_the_input_specific_tail():
    err = EvaluationError("n: the function raised KeyError('q') on value 'q'; make it handle")
    assert outside_reason(err) == "n: the function raised KeyError('q')"
