# Transformers from scratch in PyTorch -- every command bootstraps .venv itself the first time.
#   make lab       start the course in JupyterLab (with nbgrader's Validate button)
#   make test      run the whole test suite (what CI runs)
#   make release   regenerate the student notebooks in course/ from solutions/
#   make bench     train every translator in full mode and write bench/results/

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
ASSIGNMENTS := $(notdir $(wildcard solutions/[0-9]*))
# JupyterLab refuses to run as root (containers, CI) unless told it may.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)
PORT ?= 8888

.PHONY: venv lab test release bench clean-venv

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e .
	touch $(STAMP)

lab: $(STAMP)
	$(BIN)/jupyter lab --ServerApp.root_dir=$(CURDIR) --port=$(PORT) $(ROOT_FLAG) $(LAB_ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

release: $(STAMP)
	@for a in $(ASSIGNMENTS); do \
	  echo "release $$a"; \
	  $(BIN)/nbgrader generate_assignment $$a --force --log-level=WARN || exit 1; \
	done

bench: $(STAMP)
	$(BIN)/python -m bench.translate $(BENCH_ARGS)

clean-venv:
	rm -rf $(VENV)
