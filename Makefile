# The two commands in the README: `make run` and `make test`. Both set up
# everything they need on first use.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
IMAGE ?= localhost/heaters-origin

.PHONY: run test lint check bench image test-image setup system-packages test-system-packages clean

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
	$(BIN)/python -m bench.cold_start
	$(BIN)/python -m bench.sample_index
	$(BIN)/python -m bench.client_styles
	$(BIN)/python -m bench.smartcut_peer
	$(BIN)/python -m bench.registration
	$(BIN)/python -m bench.long_gop

# The production image, built from the Dockerfile with podman (no daemon, no registry).
image:
	tools/ensure-system-packages.sh --image
	infra/image/build $(IMAGE)

# Builds the image, then runs its own entry point from its exported file system.
test-image: setup test-system-packages image
	HEATERS_IMAGE=$(IMAGE) $(BIN)/pytest tests/image

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
