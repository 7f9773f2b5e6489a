# One-line entry points. `make test` sets up a fresh virtual environment if needed and runs the suite.
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
STAMP := $(VENV)/.sherlock-installed

.PHONY: setup demo test lint bench clean

setup: $(STAMP)

# torch first, pinned to the local CPU build (a plain `torch` would pull several GB of CUDA packages); never torchvision.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[test]"
	@$(PY) -c "import importlib.util, sys; sys.exit('torchvision must not be installed' if importlib.util.find_spec('torchvision') else 0)"
	touch $(STAMP)

# The main job on its built-in default: analyze the shipped example video with the tiny random demo model.
demo: setup
	$(VENV)/bin/sherlock analyze examples/demo.mp4

lint: setup
	$(VENV)/bin/ruff check modeling_sherlock processing sherlock dataset_scripts tests benchmarks examples
	$(VENV)/bin/ruff format --check modeling_sherlock processing sherlock dataset_scripts tests benchmarks examples

test: setup lint
	$(PY) -m pytest -q

bench: setup
	$(PY) benchmarks/benchmark_gsm_overhead.py
	$(PY) benchmarks/benchmark_processing.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
