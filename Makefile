# The verbs of secmaster. `make run` and `make test` are the contract (README).
SHELL := /bin/bash
PYTHON ?= python3
UV := $(PYTHON) -m uv
export UV_PYTHON_DOWNLOADS := never

.PHONY: help uv install run demo up test test-unit lint typecheck bench migrate clean

help:
	@echo "make run       run the platform (embedded Postgres + broker, sandbox emulators, demo), until Ctrl-C"
	@echo "make demo      the walking skeleton end to end, offline, then exit"
	@echo "make test      the whole test suite (real broker and Postgres)"
	@echo "make lint      ruff + mypy"
	@echo "make bench     the benchmarks under bench/"
	@echo "make migrate   schemas, roles and migrations on DATABASE_URL"
	@echo "make up        the stack against real APIs (docker compose: see docker-compose.yml)"

# uv comes from PyPI, like everything else the project installs.
uv:
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet "uv>=0.5"

# Bytecode is compiled at install: where PYTHONDONTWRITEBYTECODE is set (as on CI), every
# process would otherwise compile each module it imports, the parse workers included.
install: uv
	$(UV) sync --frozen --all-packages --compile-bytecode
	$(UV) run python -m compileall -q -j0 src libs services bench tests

run: install
	$(UV) run secmaster demo --serve

demo: install
	$(UV) run secmaster demo

up: install
	$(UV) run secmaster up

migrate: install
	$(UV) run secmaster migrate

test: install
	$(UV) run pytest libs services tests

test-unit: install
	$(UV) run pytest libs services -m "not integration and not e2e"

lint: install
	$(UV) run ruff check .
	$(UV) run ruff format --check .
	$(MAKE) typecheck

typecheck: install
	$(UV) run mypy libs/common/src services/*/src/*/domain

# Each benchmark prints JSON with its ratios against baselines measured in the same run.
# Sizes are the issues' (minutes each); pass e.g. ARGS=--scale to a single one by hand.
bench: uv
	$(UV) sync --frozen --all-packages --compile-bytecode --group bench
	$(UV) run python -m compileall -q -j0 src libs services bench
	$(UV) run --group bench python bench/indexer/run.py
	$(UV) run --group bench python bench/pricing/run.py
	$(UV) run --group bench python bench/enrichment/run.py
	$(UV) run --group bench python bench/ingestion/run.py

clean:
	rm -rf .secmaster .pytest_cache .mypy_cache .ruff_cache
