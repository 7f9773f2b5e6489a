# One-line entry points. `make test` sets up fresh virtual environments if needed and runs the suite on the lowest and
# on the newest transformers release that pyproject.toml supports.
VENV ?= .venv
LOWEST_VENV ?= .venv-lowest
PYTHON ?= python3
PY := $(VENV)/bin/python
LOWEST_PY := $(LOWEST_VENV)/bin/python
STAMP := $(VENV)/.sherlock-installed
LOWEST_STAMP := $(LOWEST_VENV)/.sherlock-installed
# The lowest supported transformers, read from the one place that states it (`transformers>=X,<Y` in pyproject.toml).
TRANSFORMERS_LOWEST := $(shell sed -n 's/^ *"transformers>=\([0-9.]*\),.*/\1/p' pyproject.toml)

INSTALL_VENV ?= .venv-install

.PHONY: setup setup-lowest demo demo-model space test test-newest test-lowest test-install lint bench clean paper-backends-env test-paper-backends

setup: $(STAMP)
setup-lowest: $(LOWEST_STAMP)

# torch first, pinned to the local CPU build (a plain `torch` would pull several GB of CUDA packages); never torchvision.
# $(1): the venv, $(2): extra requirements (the transformers pin of the lowest environment).
define make_venv
	$(PYTHON) -m venv $(1)
	$(1)/bin/python -m pip install --quiet --upgrade pip
	$(1)/bin/python -m pip install --quiet torch==2.13.0
	$(1)/bin/python -m pip install --quiet -e ".[test]" $(2)
	@$(1)/bin/python -c "import importlib.util, sys; sys.exit('torchvision must not be installed' if importlib.util.find_spec('torchvision') else 0)"
	touch $(1)/.sherlock-installed
endef

# The newest releases the version ranges allow (what a user's fresh install gets).
$(STAMP): pyproject.toml
	$(call make_venv,$(VENV),)

# The same, with transformers at the lowest supported release.
$(LOWEST_STAMP): pyproject.toml
	@test -n "$(TRANSFORMERS_LOWEST)" || (echo "cannot read the lowest transformers from pyproject.toml" && exit 1)
	$(call make_venv,$(LOWEST_VENV),"transformers==$(TRANSFORMERS_LOWEST)")

# The main job on its built-in default: analyze the shipped example video with the trained demo model.
demo: setup
	$(VENV)/bin/sherlock analyze examples/demo.mp4

# The browser demo on http://127.0.0.1:7860 (the Space of spaces_demo/, run locally).
space: setup
	GRADIO_SERVER_NAME=127.0.0.1 $(PY) spaces_demo/app.py

lint: setup
	$(VENV)/bin/ruff check modeling_sherlock processing sherlock dataset_scripts tests benchmarks examples
	$(VENV)/bin/ruff format --check modeling_sherlock processing sherlock dataset_scripts tests benchmarks examples

test: lint test-newest test-lowest test-install

test-newest: setup
	@$(PY) -c "import torch, transformers; print('suite on transformers', transformers.__version__, 'torch', torch.__version__)"
	SHERLOCK_REQUIRE_BROWSER=1 $(PY) -m pytest -q -m "not paper_backends"

test-lowest: setup-lowest
	@$(LOWEST_PY) -c "import torch, transformers; print('suite on transformers', transformers.__version__, 'torch', torch.__version__)"
	SHERLOCK_REQUIRE_BROWSER=1 $(LOWEST_PY) -m pytest -q -m "not paper_backends"

# What a user gets from `pip install sherlock-mvae` alone (a wheel, no extras, outside the checkout): the main job runs.
test-install:
	rm -rf $(INSTALL_VENV) dist-install
	$(PYTHON) -m venv $(INSTALL_VENV)
	$(INSTALL_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(INSTALL_VENV)/bin/python -m pip install --quiet torch==2.13.0
	$(INSTALL_VENV)/bin/python -m pip wheel --quiet --no-deps --wheel-dir dist-install .
	rm -rf build
	$(INSTALL_VENV)/bin/python -m pip install --quiet dist-install/*.whl
	cd /tmp && SHERLOCK_HOME="$$(mktemp -d)" $(CURDIR)/$(INSTALL_VENV)/bin/sherlock analyze --json $(CURDIR)/examples/demo.mp4 > $(CURDIR)/$(INSTALL_VENV)/demo.json
	$(INSTALL_VENV)/bin/python -c "import json, sys; out = json.load(open('$(INSTALL_VENV)/demo.json')); gold = json.load(open('examples/demo.json'))['events'][0]; sys.exit(0 if len(out['frame_times']) == 8 and any(e['event_type'] == gold['event_type'] and abs(e['start'] - gold['start']) <= 1 and abs(e['end'] - gold['end']) <= 1 for e in out['events']) else 'the demo model missed the example event %s: %s' % (gold, out))"
	@echo "test-install: pip install of the wheel alone runs sherlock analyze with the trained demo model, which finds the example's event"

# The trained demo model from nothing (`sherlock.demo_training`): trains the extractors on the synthetic renderer's
# ground truth, builds 4,000 synthetic videos, runs the extractors over them, trains the model with `sherlock train`,
# evaluates it on unseen videos, and installs model and extractors into the package (sherlock/demo_model,
# sherlock/demo_extractors). Resumable: run it again after an interruption. About 1.5 h on 2 CPU cores (README).
demo-model: setup
	$(PY) -m sherlock.demo_training --work-dir demo-build

bench: setup
	$(PY) benchmarks/benchmark_gsm_overhead.py
	$(PY) benchmarks/benchmark_processing.py

clean:
	rm -rf $(VENV) $(LOWEST_VENV) $(INSTALL_VENV) $(PAPER_VENV) dist-install .pytest_cache .ruff_cache

# The paper's own extractors (HigherHRNet through mmpose 0.29, SAM 2 through Meta's sam2 1.1) in an environment of their
# own: they need torchvision, which the default environment must never have. ~3.5 minutes and ~7 GB here.
PAPER_VENV ?= .venv-paper
PAPER_PY := $(PAPER_VENV)/bin/python
PAPER_STAMP := $(PAPER_VENV)/.paper-backends-installed

paper-backends-env: $(PAPER_STAMP)

$(PAPER_STAMP): pyproject.toml
	rm -rf $(PAPER_VENV)
	$(PYTHON) -m venv $(PAPER_VENV)
	$(PAPER_PY) -m pip install --quiet --upgrade pip
# torch + torchvision: a CUDA build that also runs on the CPU (the only torchvision build available here)
	$(PAPER_PY) -m pip install --quiet torch==2.14.1 torchvision==0.29.1
# build tools of the source packages below; setuptools < 81 still has pkg_resources, which mmcv 1.7's setup.py imports
	$(PAPER_PY) -m pip install --quiet "setuptools<81" wheel cython numpy
	SAM2_BUILD_CUDA=0 $(PAPER_PY) -m pip install --quiet --no-build-isolation sam2==1.1.0
# mmcv 1.7 without its compiled ops (HigherHRNet needs none); mmpose 0.29 is the last mmpose with HigherHRNet
	MMCV_WITH_OPS=0 $(PAPER_PY) -m pip install --quiet --no-build-isolation mmcv==1.7.0
# xtcocotools built against numpy 2 (its wheels are built against numpy 1)
	$(PAPER_PY) -m pip install --quiet --no-build-isolation --no-binary xtcocotools xtcocotools==1.14.3
	$(PAPER_PY) -m pip install --quiet --no-deps mmpose==0.29.0
	$(PAPER_PY) -m pip install --quiet json-tricks munkres scipy matplotlib opencv-python-headless
	$(PAPER_PY) -m pip install --quiet -e ".[test]"
	touch $(PAPER_STAMP)

test-paper-backends: paper-backends-env
	@$(PAPER_PY) -c "import torch, torchvision, mmpose, sam2, transformers; print('paper backends on torch', torch.__version__, 'torchvision', torchvision.__version__, 'mmpose', mmpose.__version__, 'transformers', transformers.__version__)"
	SHERLOCK_REQUIRE_PAPER_BACKENDS=1 $(PAPER_PY) -m pytest -q -m paper_backends tests/test_paper_backends.py
