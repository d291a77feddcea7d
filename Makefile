# Quick start: `make demo` and `make test`. PYTHON selects the interpreter
# (default: python3); everything installs into that interpreter's environment.
PYTHON ?= python3
PIP := $(PYTHON) -m pip
DEMO_DIR ?= work_dirs/demo
# What `make lint` checks and `make format` rewrites (settings: setup.cfg).
LINT_PATHS := ssformer_mmseg tools tests configs setup.py _ssformer_mmseg_startup.py

.PHONY: install demo test lint-deps lint format

# torch==2.13.0 only when no torch is installed: a bare `pip install torch`
# would pull the multi-GB CUDA build. The OpenMMLab stack only where none is
# importable, so an installed one (upstream or the onedl forks, full mmcv
# with compiled ops) is never replaced: mmseg and mmengine from upstream
# ([upstream]), mmcv as mmcv-lite ([lite]).
HAS_MODULES = $(PYTHON) -c "import importlib.util as u, sys; sys.exit(any(u.find_spec(m) is None for m in sys.argv[1:]))"
install:
	@$(PYTHON) -c "import torch" 2>/dev/null || $(PIP) install "torch==2.13.0"
	@extras=tests; \
	$(HAS_MODULES) mmseg mmengine || extras="$$extras,upstream"; \
	$(HAS_MODULES) mmcv || extras="$$extras,lite"; \
	echo "pip install -e \".[$$extras]\""; \
	$(PIP) install --quiet -e ".[$$extras]"

demo: install
	$(PYTHON) tools/demo.py --out-dir $(DEMO_DIR)

test: install
	$(PYTHON) -m pytest tests

# The pinned flake8, isort and yapf (requirements/lint.txt); no torch/mmcv.
lint-deps:
	$(PIP) install --quiet -r requirements/lint.txt

# Check only, nothing is rewritten. All three run; the target fails if any
# of them finds a violation (isort and yapf print the diff they would apply).
lint: lint-deps
	@status=0; \
	echo "flake8 $(LINT_PATHS)"; \
	$(PYTHON) -m flake8 $(LINT_PATHS) || status=1; \
	echo "isort --check-only --diff $(LINT_PATHS)"; \
	$(PYTHON) -m isort --check-only --diff $(LINT_PATHS) || status=1; \
	echo "yapf --diff --recursive $(LINT_PATHS)"; \
	$(PYTHON) -m yapf --diff --recursive $(LINT_PATHS) || status=1; \
	if [ $$status -ne 0 ]; then echo "lint: violations found (make format fixes isort/yapf ones)" >&2; fi; \
	exit $$status

# Rewrite imports (isort) and layout (yapf) in place; flake8 findings that
# remain (long comments, unused names) need a hand.
format: lint-deps
	$(PYTHON) -m isort $(LINT_PATHS)
	$(PYTHON) -m yapf --in-place --recursive $(LINT_PATHS)
