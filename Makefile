# The two commands in the README: `make run` and `make test`. Both set up
# everything they need on first use.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint check bench setup system-packages test-system-packages clean

run: setup system-packages
	$(BIN)/origin demo

test: setup test-system-packages
	$(BIN)/pytest

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

check: lint test

bench: setup
	tools/ensure-system-packages.sh --bench
	$(BIN)/python -m bench.clip_latency
	$(BIN)/python -m bench.responsiveness
	$(BIN)/python -m bench.warming

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

system-packages:
	tools/ensure-system-packages.sh

test-system-packages:
	tools/ensure-system-packages.sh --test

clean:
	rm -rf $(VENV) .origin .mypy_cache .ruff_cache
