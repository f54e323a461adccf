# How `sam build` builds the layer and every function (`Metadata: BuildMethod: makefile`).
#
# SAM runs `make -f <CodeUri>/Makefile build-<LogicalId>` in a scratch copy of CodeUri/ContentUri
# with ARTIFACTS_DIR set; each of those Makefiles includes this file. What it adds to SAM's python
# builder: compiled bytecode. Lambda's /var/task and /opt are read-only, so without shipped .pyc
# every cold start compiles every module again (docs/performance.md). The .pyc are
# "unchecked-hash": valid whatever the files' timestamps after zipping and unzipping, and never
# compared with the source (which cannot change on Lambda anyway).
#
# Variables (defaults = what the template deploys; bench/ and tests override the platform to run
# the same recipe on this machine's architecture):
#   LAMBDA_PYTHON    an interpreter of the runtime's minor version (bytecode is per minor version)
#   LAMBDA_PLATFORM  pip platform tag of the template's architecture (arm64)

LAMBDA_PYTHON    ?= python3.11
LAMBDA_PY_MINOR  := 3.11
LAMBDA_PLATFORM  ?= manylinux2014_aarch64
LAMBDA_PIP        = $(LAMBDA_PYTHON) -m pip install --quiet --disable-pip-version-check \
	--no-compile --target $(1) --platform $(LAMBDA_PLATFORM) --implementation cp \
	--python-version $(LAMBDA_PY_MINOR) --only-binary=:all: --upgrade --no-warn-conflicts \
	--root-user-action=ignore

# $(call lambda_check_python)
define lambda_check_python
	@$(LAMBDA_PYTHON) -c 'import sys; v = "%d.%d" % sys.version_info[:2]; \
		sys.exit(0 if v == "$(LAMBDA_PY_MINOR)" else "$(LAMBDA_PYTHON) is Python " + v + \
		": the bytecode must be compiled by Python $(LAMBDA_PY_MINOR), the runtime'"'"'s version")'
endef

# $(call lambda_requirements,REQUIREMENTS_FILE,TARGET_DIR[,EXTRA_PIP_FLAGS])
# Only wheels for the runtime's platform and Python; requirement lines only (comments allowed).
define lambda_requirements
	@if grep -qvE '^[[:space:]]*(#.*)?$$' $(1); then $(call LAMBDA_PIP,$(2)) $(3) -r $(1); fi
	@rm -rf $(2)/bin
endef

# $(call lambda_code,TARGET_DIR,EXCLUDED_NAMES): the source tree (this scratch copy) minus build files.
define lambda_code
	@mkdir -p $(1)
	@tar -c --exclude=__pycache__ --exclude='*.pyc' --exclude=Makefile \
		--exclude='requirements*.txt' $(foreach name,$(2),--exclude=$(name)) . | tar -x -C $(1)
endef

# $(call lambda_compile,DIR): every .py under DIR gets its __pycache__/*.cpython-311.pyc.
define lambda_compile
	@$(LAMBDA_PYTHON) -m compileall -q -f -j 0 --invalidation-mode unchecked-hash $(1) >/dev/null
endef

# A layer: requirements with their dependencies, then the code, under python/ (on Lambda's path).
define lambda_layer
	$(lambda_check_python)
	$(call lambda_requirements,requirements.txt,$(ARTIFACTS_DIR)/python)
	$(call lambda_code,$(ARTIFACTS_DIR)/python)
	$(call lambda_compile,$(ARTIFACTS_DIR)/python)
endef

# A function: its handler code plus only what its requirements.txt names, WITHOUT dependencies
# (--no-deps): everything else comes from the layer, so no package is shipped twice (a function's
# copy would shadow the layer's). tests/infra checks that the names listed are complete.
define lambda_function
	$(lambda_check_python)
	$(call lambda_requirements,requirements.txt,$(ARTIFACTS_DIR),--no-deps)
	$(call lambda_code,$(ARTIFACTS_DIR))
	$(call lambda_compile,$(ARTIFACTS_DIR))
endef
