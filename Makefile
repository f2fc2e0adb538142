# Entry points (README): `make run`, `make test`, `make bench`. Only python3 and make needed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: run test test-fast lint bench docs wheel clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Stamps re-install whenever pyproject.toml changes.
$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed-run

$(VENV)/.installed-bench: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test,bench]'
	touch $@ $(VENV)/.installed-run $(VENV)/.installed-test

# An older DuckDB beside the project's (its own folder, never imported by the project): the
# tests open the published warehouse with it, as analysts' CLIs and BI drivers do, locally and
# remotely (its httpfs extension from the duckdb-ext-httpfs wheel: no download at run time).
# Its iceberg extension reads the export's Iceberg tables (tests/e2e/test_export.py).
OLDER_DUCKDB := $(VENV)/duckdb-1.4/.installed-with-httpfs-iceberg-avro
$(OLDER_DUCKDB): | $(BIN)/python
	$(BIN)/pip install --quiet --no-deps --upgrade --target $(VENV)/duckdb-1.4 'duckdb==1.4.4' \
		'duckdb-ext-httpfs==1.4.4.20260205' 'duckdb-ext-iceberg==1.4.4.20260205' \
		'duckdb-ext-avro==1.4.4.20260205'
	touch $@

run: $(VENV)/.installed-run
	$(BIN)/osvi up

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/mypy osvi_core ingest_api osvi_pipeline osvi_cli osvi_explorer
	$(BIN)/lint-imports

test: lint $(OLDER_DUCKDB)
	$(BIN)/pytest -q -n 2 --durations=15

# The edit loop: the pure unit tests alone (seconds).
test-fast: $(VENV)/.installed-test
	$(BIN)/pytest -q tests/unit

# The wheel production installs (docs/deploy.md): dist/osvi_pipeline-<version>-py3-none-any.whl,
# its version from git. pip's build leaves build/ behind; it is removed.
wheel: $(BIN)/python
	rm -rf build
	$(BIN)/python -m pip wheel --quiet --no-deps --wheel-dir dist .
	rm -rf build
	@ls -1 dist/osvi_pipeline-*.whl | tail -1

# Pages generated from the code (a test fails when they disagree with it).
docs: $(VENV)/.installed-run
	$(BIN)/python -m osvi_core.config_report > docs/configuration.md

bench: $(VENV)/.installed-bench
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build dist
