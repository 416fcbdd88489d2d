"""The circuit-discovery benchmark: edge-level resample ablation on the HookedTransformer
export agrees with the compiled ground truth, and methods are scored against it.

The patching tests need TransformerLens 2.x/3.x (``make test-tl3`` runs them, TL 3.9);
in the main environment (TL 4: no HookedTransformer) the benchmark must refuse with a
one-line error naming the ``hooked`` extra.  Scoring and table helpers need neither.
"""

from __future__ import annotations

import importlib.util
import json
import math

import pytest

import compiler
from models import cli
from models.circuit_bench import (
    BenchResult,
    MethodResult,
    ProgramResult,
    found_circuit,
    plot_bench,
    roc_auc,
)
from rasp import lib
from rasp.errors import RaspcError

HAS_TORCH = importlib.util.find_spec("torch") is not None
HAS_TL = HAS_TORCH and importlib.util.find_spec("transformer_lens") is not None
HAS_MPL = importlib.util.find_spec("matplotlib") is not None


def _has_hooked() -> bool:
    if not HAS_TL:
        return False
    from models.hooked import has_hooked_transformer

    return has_hooked_transformer()


HAS_HOOKED = _has_hooked()


def _model(name: str):
    e = lib.LIBRARY[name]
    return compiler.compile_rasp_to_model(e.build(e.max_seq_len), set(e.vocab), e.max_seq_len)


# ---------------------------------------------------------------- scoring (no torch)


def test_roc_auc_counts_ties_half():
    scores = {"a": 3.0, "b": 2.0, "c": 1.0, "d": 1.0}
    assert roc_auc(scores, {"a", "b"}) == 1.0
    assert roc_auc(scores, {"c", "d"}) == 0.0
    assert roc_auc(scores, {"a", "c"}) == pytest.approx(0.625)  # a beats both; c ties d
    assert math.isnan(roc_auc(scores, set(scores)))


def test_found_circuit_threshold_or_top_k():
    scores = {"a": 0.5, "b": 0.0, "c": 2.0}
    assert found_circuit(scores, 1e-3, 1) == {"a", "c"}
    assert found_circuit(scores, None, 1) == {"c"}


def _result() -> BenchResult:
    good = MethodResult("patching", 0.9, 1.0, 0.75, 1e-3, 9, 1.0)
    bad = MethodResult("attribution", 0.5, math.nan, 0.0, 1e-3, 0, 0.25)
    prog = ProgramResult("reverse", 3, 1, 46, 12, 5, 9, 64, 1.0, 0.0, (good, bad))
    return BenchResult((prog,), (("const", "no corrupt input changes the answer"),), {})


def test_table_csv_and_json_report_every_row_and_the_means():
    result = _result()
    table = result.table()
    assert "reverse" in table and "MEAN (1)" in table and "1.000 (1 =1)" in table
    assert result.to_csv().splitlines()[0].startswith("program,layers,heads,edges,truth")
    assert len(result.to_csv().splitlines()) == 3
    data = json.loads(json.dumps(result.to_json()))
    assert data["rows"][1]["precision"] is None  # NaN written as null
    assert data["aggregate"][0] == {
        "method": "patching",
        "programs": 1,
        "auc": 0.9,
        "precision": 1.0,
        "recall": 0.75,
        "faithfulness": 1.0,
        "faithful": 1,
    }
    assert data["skipped"] == [["const", "no corrupt input changes the answer"]]


if HAS_MPL:

    def test_plot_writes_an_image(tmp_path):
        path = plot_bench(_result(), tmp_path / "bench.png")
        assert path.read_bytes()[:4] == b"\x89PNG"
        with pytest.raises(RaspcError, match="suffix"):
            plot_bench(_result(), tmp_path / "bench.jpg")

else:

    def test_plot_without_matplotlib_names_the_extra(tmp_path):
        with pytest.raises(RaspcError, match=r"raspc\[plot\]"):
            plot_bench(_result(), tmp_path / "bench.png")


# ---------------------------------------------------------------- patching (TL 2.x/3.x)


if not HAS_HOOKED:

    def test_bench_without_hooked_transformer_names_the_extra(capsys):
        assert cli.main(["bench-circuits", "reverse"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "raspc[hooked]" in err

else:
    from models.circuit_bench import (
        EdgePatcher,
        bench_program,
        ground_truth,
        load_optional_methods,
    )
    from models.hooked import to_hooked_transformer
    from models.prompts import prompt_set

    @pytest.fixture(scope="module")
    def rev():
        model = _model("reverse")
        hooked = to_hooked_transformer(model)
        return model, hooked, EdgePatcher(hooked, model, prompt_set(model, 48))

    def test_ground_truth_circuit_is_faithful_and_others_are_not(rev):
        model, _, patcher = rev
        gt = ground_truth(model).names()
        assert patcher.clean_accuracy == 1.0 and patcher.clean_metric == pytest.approx(1.0)
        assert patcher.accuracy_without(gt) == 1.0  # ablating the complement changes nothing
        assert patcher.accuracy_without(()) == 0.0  # every answer changes by construction
        # the reverse head without its tokens, or without the length path: wrong circuits
        assert patcher.accuracy_without(gt - {"Resid Start->A2.0.V"}) < 0.5
        assert patcher.accuracy_without(gt - {"Resid Start->A0.0.K"}) < 1.0
        wrong = set(patcher.edges) - {e for e in gt if e.endswith("Resid End")}
        assert patcher.accuracy_without(wrong) == 0.0

    def test_skipping_inert_edges_changes_no_number(rev):
        _, _, patcher = rev
        single = [[i] for i in range(len(patcher.edges))]
        fast = patcher.run(single)
        inert = patcher.inert.copy()
        assert inert.sum() > len(inert) // 2  # most edges of a compiled model are inert
        try:
            patcher.inert[:] = False
            slow = patcher.run(single)
        finally:
            patcher.inert[:] = inert
        for a, b in zip(fast, slow):
            assert a == pytest.approx(b, abs=1e-5)

    def test_attribution_is_a_linear_estimate_of_patching(rev):
        _, _, patcher = rev
        est = patcher.attribution()
        assert est.shape == (len(patcher.edges),)
        assert (est[patcher.inert] == 0).all() and (est != 0).any()

    @pytest.mark.parametrize("name", ["reverse", "frac_prevs"])
    def test_bench_program_scores_methods_against_the_ground_truth(name):
        model = _model(name)
        result = bench_program(name, model, methods=("patching", "attribution"), n=32)
        truth = ground_truth(model)
        assert result.truth == len(truth.edges) and result.truth_faithfulness == 1.0
        patching, attribution = result.methods
        assert patching.auc >= 0.85 and patching.precision == 1.0
        assert patching.faithfulness == 1.0
        assert 0.0 <= attribution.auc <= 1.0 and attribution.found <= result.edges
        # an edge the prompts cannot make needed carries only constants or positions
        for e in result.not_needed:
            assert set(truth.edge(e).nodes) <= {"indices"}, e
        assert result.needed == result.truth - len(result.not_needed) >= result.truth // 2

    def test_fixed_lengths_hide_the_length_head():
        model = _model("reverse")
        varied = bench_program("reverse", model, methods=(), n=32)
        fixed = bench_program("reverse", model, methods=(), n=32, vary_length=False)
        assert "Resid Start->A0.0.K" not in varied.not_needed
        assert "Resid Start->A0.0.K" in fixed.not_needed
        assert fixed.needed < varied.needed

    def test_ground_truth_depends_on_the_ablation():
        # BOS sits at position 0 of every prompt, so resampling never changes what the
        # length head's value reads; zeroing it does
        model = _model("reverse")
        resample = bench_program("reverse", model, methods=("patching",), n=32)
        zero = bench_program("reverse", model, methods=("patching",), n=32, ablation="zero")
        assert "Resid Start->A0.0.V" in resample.not_needed
        assert "Resid Start->A0.0.V" not in zero.not_needed
        assert zero.needed > resample.needed and zero.truth_faithfulness == 1.0
        assert zero.methods[0].recall > resample.methods[0].recall
        mean = bench_program("reverse", model, methods=(), n=32, ablation="mean")
        assert mean.truth_faithfulness == 1.0
        with pytest.raises(RaspcError, match="unknown ablation"):
            bench_program("reverse", model, ablation="noise")

    def test_optional_methods_follow_auto_circuit():
        methods = load_optional_methods()
        assert {"patching", "attribution"} <= set(methods)
        has = importlib.util.find_spec("auto_circuit") is not None
        assert ("acdc" in methods and "eap" in methods) == has

    def test_cli_prints_one_table_and_writes_files(tmp_path, capsys):
        csv_path, json_path = tmp_path / "b.csv", tmp_path / "b.json"
        argv = ["bench-circuits", "reverse", "--prompts", "16", "--csv", str(csv_path)]
        assert cli.main([*argv, "--json", str(json_path)]) == 0
        out = capsys.readouterr().out
        assert out.count("MEAN (1)") == 1 and "patching" in out
        assert csv_path.read_text().count("\n") == 2
        assert json.loads(json_path.read_text())["rows"][0]["program"] == "reverse"

    @pytest.mark.parametrize(
        "argv, message",
        [
            (["bench-circuits", "nope"], "unknown library program"),
            (["bench-circuits", "reverse", "--methods", "magic"], "unknown circuit-discovery"),
            (["bench-circuits", "reverse", "--prompts", "0"], "--prompts must be positive"),
            (["bench-circuits", "reverse", "--plot", "x.jpg"], "suffix"),
        ],
    )
    def test_cli_user_errors_are_one_line(argv, message, capsys):
        assert cli.main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err
