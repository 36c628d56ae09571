# The two commands a newcomer needs: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit bench clean

$(STAMP): pyproject.toml setup.py src/amber/_kernels/_compiled.c src/amber/_kernels/_identity.c
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m examples.bank.demo

test: lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check src tests bench examples
	$(BIN)/ruff format --check src tests bench examples
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

# The whole suite on the compiled kernels, then again on the pure-Python ones, the tests of
# the layers that call the kernels: the writer and reader, deltas, schemas and evolution,
# the conformance cases, golden bytes (tests/format), and the hostile reviews of the fast
# path and of deltas' identity index. Both must pass and write the same bytes
# (tests/kernels/test_same_bytes.py). Repeating the rest (storage, the manager, CLI, fleets,
# docs pages, engines), which reaches the kernels only through those layers, would take
# .ci/run past its 20 minutes on a slow machine.
PURE_TESTS := tests/kernels tests/graph tests/format tests/conformance tests/schema tests/evolution \
	tests/review/test_fast_path_hostile.py tests/review/test_delta_index_hostile.py

unit: $(STAMP)
	$(BIN)/pytest
	AMBER_PURE_PYTHON=1 $(BIN)/pytest -q $(PURE_TESTS)

bench: $(STAMP)
	$(BIN)/python -m bench.bench_core --runs 5
	$(BIN)/python -m bench.bench_evolution --runs 5
	$(BIN)/python -m bench.bench_manager --runs 5
	$(BIN)/python -m bench.bench_deltas --runs 5
	$(BIN)/python -m bench.bench_kernels --runs 3
	$(BIN)/python -m bench.bench_scaling
	$(BIN)/python -m bench.bench_observability --runs 31
	$(BIN)/python -m bench.bench_models --runs 5
	$(BIN)/python -m bench.bench_arrays --runs 5
	$(BIN)/python -m bench.bench_copy --runs 5
	$(BIN)/python -m bench.bench_ops --runs 3
	$(BIN)/python -m bench.bench_followers --runs 3
	$(BIN)/python -m bench.bench_ray --runs 5

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
