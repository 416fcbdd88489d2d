# Quick start: `make demo` and `make test` work on a fresh machine with Python 3.11.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test test-tl3 lint bench clean

# A second environment with TransformerLens 3.9 (HookedTransformer and the bridge both),
# auto-circuit and SAELens: the HookedTransformer export and the tools on it run there.
VENV_TL3 := .venv-tl3
PY_TL3 := $(VENV_TL3)/bin/python
STAMP_TL3 := $(VENV_TL3)/.installed
TL3_TESTS := tests/test_hooked.py tests/test_tl_export.py \
	tests/test_interventions.py::test_tl_patching_agrees_with_the_evaluator \
	tests/test_circuit_bench.py tests/test_autocircuit.py tests/test_sae_lens.py

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch first, pinned to the CPU build this machine ships, so the tl extra needs nothing more
	$(PY) -m pip install --quiet "torch==2.13.0"
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	$(PY) examples/demo.py

test: $(STAMP)
	$(PY) -m ruff check .
	# tests/test_sae_lens.py needs SAELens (TL < 4): it runs in test-tl3 below
	$(PY) -m pytest rasp compiler models tests README.md --ignore=tests/test_sae_lens.py
	$(MAKE) test-tl3

# about 2.5 minutes to build (torch is the local wheel), then a few minutes of tests
$(STAMP_TL3): pyproject.toml
	test -x $(PY_TL3) || $(PYTHON) -m venv $(VENV_TL3)
	$(PY_TL3) -m pip install --quiet "torch==2.13.0"
	$(PY_TL3) -m pip install --quiet -e ".[compress,hooked]" "transformer-lens==3.9.0" \
		"pytest>=8" "hypothesis>=6.100"
	touch $(STAMP_TL3)

test-tl3: $(STAMP_TL3)
	$(PY_TL3) -m pytest -p no:cacheprovider $(TL3_TESTS)

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

bench: $(STAMP)
	$(PY) benchmarks/bench.py
	$(PY) benchmarks/compare_tracr.py
	$(PY) benchmarks/tracr_failures.py
	$(PY) benchmarks/evaluate_speed.py

clean:
	rm -rf $(VENV) $(VENV_TL3) .pytest_cache build *.egg-info
