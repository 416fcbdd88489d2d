"""Tracr's end-to-end suite, run against raspc with only the two modules swapped.

``tracr/compiler/rasp_to_transformer_integration_test.py`` from the installed
``tracr-pypi`` is loaded with ``tracr.rasp.rasp`` -> ``rasp`` and
``tracr.compiler.compiling`` -> ``compiler`` (and Tracr's ``lib`` and
``test_cases``, which it imports, with the same swap: see ``tests/tracr_port.py``).
Its test class is an absltest ``parameterized.TestCase``; binding it here lets
pytest collect every parameterized case as a unittest test.
"""

from __future__ import annotations

import unittest
import warnings

import pytest
from absl.testing import parameterized

import compiler
import rasp
from models.verification import input_space, verify
from rasp.errors import CausalWarning, UnsupportedProgramError
from tests.tracr_port import RASP_IMPORT, load_ported, ported_lib, ported_test_cases

ported_lib()
ported_test_cases()
_integration = load_ported(
    "_tracr_ported_integration_test",
    "compiler/rasp_to_transformer_integration_test.py",
    [
        RASP_IMPORT,
        ("from tracr.compiler import compiling\n", "import compiler as compiling\n"),
        ("from tracr.compiler import lib\n", "import _tracr_ported_lib as lib\n"),
        (
            "from tracr.compiler import test_cases\n",
            "import _tracr_ported_test_cases as test_cases\n",
        ),
    ],
)


class CompilerIntegrationTest(_integration.CompilerIntegrationTest):
    """Tracr's suite as it is, but for one allowance the issue grants: Tracr's
    "unsupported program" cases may compile instead of raising, if the model is exact
    (raspc compiles more than Tracr).  Every other case runs Tracr's own method."""

    @parameterized.named_parameters(*_integration.test_cases.UNSUPPORTED_TEST_CASES)
    def test_unsupported_programs_raise_exception(self, program, vocab, max_seq_len):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", CausalWarning)  # Tracr compiles causal=True
                model = compiler.compile_rasp_to_model(
                    program,
                    vocab,
                    max_seq_len,
                    causal=True,
                    compiler_bos=_integration._COMPILER_BOS,
                    compiler_pad=_integration._COMPILER_PAD,
                )
        except (NotImplementedError, UnsupportedProgramError):
            return  # refused, as Tracr does
        inputs = input_space(sorted(vocab, key=repr), max_seq_len)
        report = verify(model, inputs)  # against rasp.evaluate(..., causal=True), every node
        self.assertTrue(report.ok, str(report))
        self.assertGreater(report.checked, 0, "no input inside the program's domain")


def test_the_ported_suite_uses_raspc():
    assert _integration.rasp is rasp and _integration.compiling is compiler
    program = _integration.test_cases.TEST_CASES[0]["program"]
    assert isinstance(program, rasp.RASPExpr)


def test_every_tracr_case_is_collected():
    names = unittest.TestLoader().getTestCaseNames(CompilerIntegrationTest)
    ours = unittest.TestLoader().getTestCaseNames(_integration.CompilerIntegrationTest)
    assert set(names) == set(ours)  # the override replaces cases, it adds or drops none
    cases = _integration.test_cases
    expected = (
        4  # the inline programs of test_rasp_program_and_transformer_produce_same_output
        + len(cases.TEST_CASES)
        + len(cases.CAUSAL_TEST_CASES)
        + len(cases.UNSUPPORTED_TEST_CASES)
        + 10  # the padding cases
    )
    assert len(names) == expected >= 68


def test_padding_at_the_end_is_accepted_and_decodes_as_none():
    model = compiler.compile_rasp_to_model(rasp.tokens + 1, {1, 2, 3}, 5)
    out = model.apply(["compiler_bos", 3, 1, "compiler_pad", "compiler_pad"])
    assert out.decoded == ["compiler_bos", 4, 2, None, None]
    assert model.run_batch([[1, 2, "compiler_pad"], [3]]) == [[2, 3, None], [4]]


def test_padding_before_a_token_is_refused():
    model = compiler.compile_rasp_to_model(rasp.tokens + 1, {1, 2, 3}, 5)
    with pytest.raises(rasp.RaspcValueError, match="padding may only fill the end"):
        model.apply(["compiler_bos", 1, "compiler_pad", 2])
    with pytest.raises(rasp.RaspcValueError, match="at most 6"):
        model.apply(["compiler_bos", 1, *["compiler_pad"] * 5])


def test_mlp_exactness_is_accepted_and_changes_nothing():
    program = rasp.numerical(rasp.Map(lambda x: x / 3, rasp.numerical(rasp.tokens + 0)))
    plain = compiler.compile_rasp_to_model(program, {1, 2, 3}, 3)
    tuned = compiler.compile_rasp_to_model(program, {1, 2, 3}, 3, mlp_exactness=1000)
    assert plain.model_config == tuned.model_config
    assert plain.run_batch([[1, 2, 3]]) == tuned.run_batch([[1, 2, 3]])
