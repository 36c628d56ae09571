# The two commands a newcomer needs: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit bench clean

$(STAMP): pyproject.toml setup.py src/amber/_kernels/_compiled.c
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

unit: $(STAMP)
	$(BIN)/pytest

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
