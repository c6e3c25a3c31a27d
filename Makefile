# Transformers from scratch in PyTorch -- every command bootstraps .venv itself the first time.
#   make lab       start the course in JupyterLab (with nbgrader's Validate button)
#   make test      run the whole test suite (what CI runs)
#   make release   regenerate the student notebooks in course/ from solutions/
#   make bench     train every translator in full mode, time the BPE trainers, pre-train notebook 06's
#                  encoder, train notebook 07's GPT (characters, BPE, cache, translator); write bench/results/
#   make hub       try the course on a local JupyterHub (instructor + students, nbgrader's exchange;
#                  one shared password, loopback only: NOT for production) -- README "Teaching a class on JupyterHub"
#   make bundle    dist/transformers-course-student.zip: the student release for a class without a hub
# `make venv` (run by each of them) also installs the hub's proxy, pinned in hub/package-lock.json,
# with `npm ci` when npm is present (Node.js 20+).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
ASSIGNMENTS := $(notdir $(wildcard solutions/[0-9]*))
# nbgrader runs `alembic` from PATH when it creates the gradebook: put the venv first.
export PATH := $(CURDIR)/$(BIN):$(PATH)
# JupyterLab refuses to run as root (containers, CI) unless told it may.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)
PORT ?= 8888
NPM ?= npm
PROXY := hub/node_modules/.bin/configurable-http-proxy

.PHONY: venv lab test release bench clean-venv hub bundle

venv: $(STAMP)

$(STAMP): pyproject.toml hub/package.json hub/package-lock.json
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e .
	@if command -v $(NPM) >/dev/null 2>&1; then \
	  echo "$(NPM) ci --prefix hub   (configurable-http-proxy for make hub)"; \
	  $(NPM) ci --prefix hub --no-audit --no-fund --loglevel=error || \
	    echo "warning: npm ci --prefix hub failed: make hub and tests/test_hub.py need it (run it again); the rest of the course works"; \
	else \
	  echo "note: npm not found: make hub and tests/test_hub.py need Node.js 20+ and npm (the rest works without)"; \
	fi
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
	$(BIN)/python -m bench.subwords
	$(BIN)/python -m bench.bert
	$(BIN)/python -m bench.gpt

clean-venv:
	rm -rf $(VENV) hub/node_modules

# A local JupyterHub for trying (README: "Teaching a class on JupyterHub"). NOT FOR PRODUCTION:
# one shared password (users instructor, student1..3), 127.0.0.1 only.
HUB_PASSWORD ?= try-the-course
HUB_PORT ?= 8000
hub: $(STAMP)
	@test -x $(PROXY) || { echo "make hub: $(PROXY) is missing: install Node.js 20+ and npm, then run: $(NPM) ci --prefix hub" >&2; exit 1; }
	@echo "JupyterHub on http://127.0.0.1:$(HUB_PORT): log in as instructor (formgrader) or student1..3 (Assignments tab), password $(HUB_PASSWORD)"
	PATH="$(CURDIR)/hub/node_modules/.bin:$$PATH" COURSE_HUB_PASSWORD="$(HUB_PASSWORD)" COURSE_HUB_PORT=$(HUB_PORT) \
	  $(BIN)/jupyterhub -f hub/jupyterhub_config.py $(HUB_ARGS)

# The archive an instructor hands out when there is no hub: course/, utils/, media/, environment
# files, a student README and Makefile -- no solutions/, no hidden test, no gradebook.
bundle: $(STAMP)
	$(BIN)/python bundle/build.py --out dist/transformers-course-student.zip

# -- Grading (instructor): `python -m grading <command>`, see the README's "Instructor guide" -------
#   make collect SRC=folder          import returned notebooks into submitted/ (FORCE=1 replaces)
#   make autograde [ASSIGNMENT=..] [STUDENT=..] [WORKERS=2] [FORCE=1]   parallel, sandboxed
#   make grades                      grades.csv (totals) + grades-questions.csv (per test cell)
#   make feedback                    feedback/<student>/<assignment>/<notebook>.html, no hidden code
#   make validate NB=path            run a notebook's tests; fails (exit 1) when a test fails
WORKERS ?= 2
GRADING := $(BIN)/python -m grading

.PHONY: collect autograde grades feedback validate

collect: $(STAMP)
	$(if $(SRC),,$(error usage: make collect SRC=folder-of-returned-notebooks))
	$(GRADING) collect "$(SRC)" $(if $(FORCE),--force,) $(GRADING_ARGS)

autograde: $(STAMP)
	$(GRADING) autograde --workers $(WORKERS) $(if $(ASSIGNMENT),--assignment $(ASSIGNMENT),) \
	  $(if $(STUDENT),--student $(STUDENT),) $(if $(FORCE),--force,) $(GRADING_ARGS)

grades: $(STAMP)
	$(GRADING) grades $(GRADING_ARGS)

feedback: $(STAMP)
	$(GRADING) feedback $(if $(ASSIGNMENT),--assignment $(ASSIGNMENT),) $(GRADING_ARGS)

validate: $(STAMP)
	$(if $(NB),,$(error usage: make validate NB=path/to/notebook.ipynb))
	$(GRADING) validate "$(NB)" $(GRADING_ARGS)
