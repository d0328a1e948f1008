# make run: the dashboard on the embedded demo run (make run RUN=path: on that run directory,
# wherever it is). make test: the whole suite.
# Both create .venv when it is missing and (re)install when a requirements file changes.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# The same defaults as simgap_core/environment.py (tests/test_environment.py checks they agree):
# exported here too because make's commands (pytest, streamlit) need them before Python starts.
export HF_HUB_OFFLINE := 1
export HF_HUB_DISABLE_PROGRESS_BARS := 1
export TOKENIZERS_PARALLELISM := false
# faiss's OpenMP threads spin while idle unless told not to; on 2 cores that starves the rest.
export OMP_WAIT_POLICY := PASSIVE

.PHONY: run test test-cpu-variants lint demo demo-run bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python requirements.txt requirements-dev.txt pyproject.toml
	$(BIN)/pip install --quiet -r requirements.txt -r requirements-dev.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

run: $(STAMP)
ifdef RUN
	$(BIN)/simgap dashboard "$(RUN)"
else
	$(BIN)/streamlit run app.py --server.address 127.0.0.1 --browser.gatherUsageStats false
endif

# pytest exits 5 when it collected no tests: that is a failure, not a pass.
test: $(STAMP)
	@$(BIN)/python -m pytest $(PYTEST_ARGS); status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi; exit $$status

# The numeric tests again under other kernels, as on another CPU: BLAS, torch and MKL on their
# AVX2 paths (what AMD EPYC machines run; an AVX-512 or AMX Intel runs others), then on one
# thread (another summation order). A test that needs exact bits under near-ties fails here.
NUMERIC_TESTS := tests/test_mapping.py tests/test_map_scale.py tests/test_quantize.py \
	tests/test_measure.py tests/test_uncertainty.py tests/test_classifier.py tests/test_memo.py
test-cpu-variants: $(STAMP)
	OPENBLAS_CORETYPE=Haswell ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2 \
		$(BIN)/python -m pytest -q -p no:cacheprovider $(NUMERIC_TESTS)
	OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 \
		$(BIN)/python -m pytest -q -p no:cacheprovider $(NUMERIC_TESTS)

lint: $(STAMP)
	$(BIN)/ruff check .

demo: $(STAMP)
	$(BIN)/simgap demo

# The committed demo run, without the bulky embeddings and memo (a rerun recomputes them):
# removed through the run's manifest, so it lists exactly the files committed.
SLIM_DEMO_RUN := from pathlib import Path; from simgap_core.run.directory import Manifest; \
	run = Manifest.read(Path("data/demo_run")); \
	[run.remove(run.root / name) for name in list(run.files) \
	 if name == "embeddings.npy" or name.startswith("cache/")]
demo-run: $(STAMP)
	rm -rf data/demo_run
	$(BIN)/simgap analyze --demo --precision fp32 --out data/demo_run
	$(BIN)/python -c '$(SLIM_DEMO_RUN)'
	rm -rf data/demo_run/cache

bench: $(STAMP)
	$(BIN)/python bench/pipeline.py
	$(BIN)/python bench/map_stages.py
	$(BIN)/python bench/metrics.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
