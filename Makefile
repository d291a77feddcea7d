# Quick start: `make demo` and `make test`. PYTHON selects the interpreter
# (default: python3); everything installs into that interpreter's environment.
PYTHON ?= python3
PIP := $(PYTHON) -m pip
DEMO_DIR ?= work_dirs/demo

.PHONY: install demo test

# torch==2.13.0 only when no torch is installed: a bare `pip install torch`
# would pull the multi-GB CUDA build. mmcv-lite only when no mmcv is installed,
# so a full (compiled) mmcv is never shadowed.
install:
	@$(PYTHON) -c "import torch" 2>/dev/null || $(PIP) install "torch==2.13.0"
	@$(PYTHON) -c "import mmcv" 2>/dev/null || $(PIP) install "mmcv-lite>=2.1.0,<2.2.0"
	$(PIP) install --quiet -e ".[tests]"

demo: install
	$(PYTHON) tools/demo.py --out-dir $(DEMO_DIR)

test: install
	$(PYTHON) -m pytest tests
