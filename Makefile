# One-command set-up, demo and tests. `make demo` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# The CPU build of torch lies on this machine's disk; installing it first stops pip
# from pulling a multi-GB CUDA build for the bare `torch` requirement.
# On a GPU machine: make setup TORCH_SPEC=torch  (or install your CUDA build first).
TORCH_SPEC ?= torch==2.13.0

.PHONY: setup demo test test-spark test-all lint format bench accuracy clean

$(BIN)/tsae: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q "$(TORCH_SPEC)"
	$(BIN)/pip install -q -e ".[dev]"
	touch $(BIN)/tsae

setup: $(BIN)/tsae

demo: setup
	$(BIN)/tsae demo --out out/demo

test: setup
	$(BIN)/python -m pytest -q

# tsae.spark in Spark's local mode (needs Java 17+; pyspark comes with the extra).
test-spark: setup
	$(BIN)/pip install -q "$(TORCH_SPEC)" -e ".[dev,spark]"
	$(BIN)/python -m pytest -q -m spark

# Lint and formatting (ruff, configured in pyproject.toml); `make format` rewrites the files.
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test-all: setup
	$(BIN)/python -m pytest -q -m ""

bench: setup
	$(BIN)/python benchmarks/speed.py

# Detection accuracy vs peers on shared/datasets (NAB, UCR, SMD); about an hour on 2 cores.
accuracy: setup
	$(BIN)/pip install -q "$(TORCH_SPEC)" -e ".[bench]"
	$(BIN)/python benchmarks/accuracy.py --jobs 2

clean:
	rm -rf $(VENV) out build *.egg-info
