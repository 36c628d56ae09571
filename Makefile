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

# The suite on the compiled kernels, then again on the pure-Python ones (both must pass and
# write the same bytes). The second run leaves out what exercises no kernel the rest does not
# and would take .ci/run past its 20 minutes: the Ray engine tests and docs pages, the tests
# marked slow (benchmarks' smoke runs, long upgrades), the bounded fuzzing run (the reader)
# and the measurement of this Python's allocation sizes.
PURE_SKIP := -m "not slow" -k "not ray.md and not kubernetes.md" --ignore=tests/engines \
	--ignore=tests/example_services/test_ray_inventory.py --ignore=tests/review/test_pools_hostile_ray.py \
	--deselect tests/fuzz/test_fuzz.py::test_a_bounded_fuzzing_run_finds_nothing \
	--deselect tests/store/test_memory_bound.py::test_the_per_kind_constants_bound_what_this_python_allocates

unit: $(STAMP)
	$(BIN)/pytest
	AMBER_PURE_PYTHON=1 $(BIN)/pytest -q $(PURE_SKIP)

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
