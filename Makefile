# The two commands a newcomer needs: `make demo` and `make test`. Everything installs into .venv.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.setup-stamp

.PHONY: setup demo test lint bench clean chromium

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

# Headless Chromium from Debian's packages for the web page's browser test (Playwright drives it;
# it cannot download a browser of its own here). A no-op once /usr/bin/chromium exists.
CHROMIUM := /usr/bin/chromium
SUDO     := $(if $(filter 0,$(shell id -u)),,sudo)

chromium: $(CHROMIUM)

$(CHROMIUM):
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium \
		|| ($(SUDO) apt-get update -qq && \
		    $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)

# sam-setup: the SAM CLI (own venv) for `sam validate --lint` and `sam build` in the suite.
test: setup lint sam-setup chromium
	$(BIN)/python -m pytest

demo: setup
	$(BIN)/python -m ragfood_cli.demo

bench: setup
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) $(SAM_VENV) .ragfood .aws-sam .pytest_cache .ruff_cache
