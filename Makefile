# The two commands a newcomer needs: `make demo` and `make test`. Everything installs into .venv.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.setup-stamp

.PHONY: setup demo test lint bench clean

include infra/sam.mk

setup: $(STAMP)

# torch is installed first and pinned: 2.13.0 resolves to the CPU wheel; an unpinned torch
# (pulled in by sentence-transformers) would download several GB of CUDA packages.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -qq --disable-pip-version-check torch==2.13.0
	$(BIN)/python -m pip install -qq --disable-pip-version-check -e '.[local,dev]'
	touch $(STAMP)

lint: setup
	$(BIN)/ruff check .

# sam-setup: the SAM CLI (own venv) for `sam validate --lint` and `sam build` in the suite.
test: setup lint sam-setup
	$(BIN)/python -m pytest

demo: setup
	$(BIN)/python -m ragfood_cli.demo

bench: setup
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) $(SAM_VENV) .ragfood .aws-sam .pytest_cache .ruff_cache
