# AWS SAM CLI targets, included from the Makefile (also usable alone: make -f infra/sam.mk sam-setup).
# The SAM CLI lives in its OWN venv (.venv-sam): it pins its own boto3, pydantic, cfn-lint, ... and
# must not disturb the project's .venv. Run from the repository root.

SAM_PYTHON      ?= python3
SAM_VENV        := .venv-sam
SAM             := $(SAM_VENV)/bin/sam
SAM_CLI_VERSION ?= 1.170.0
# No telemetry calls home; validate --lint is offline and needs no credentials, only a region.
SAM_ENV         := SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION=$${AWS_DEFAULT_REGION:-us-east-1}

.PHONY: sam-setup sam-validate sam-build

sam-setup: $(SAM)

$(SAM):
	@test -x $(SAM_VENV)/bin/python || $(SAM_PYTHON) -m venv $(SAM_VENV)
	@echo "installing aws-sam-cli $(SAM_CLI_VERSION) into $(SAM_VENV) (about a minute)"
	@$(SAM_VENV)/bin/python -m pip install -qq --disable-pip-version-check \
		"aws-sam-cli==$(SAM_CLI_VERSION)"
	@test -x $(SAM)

sam-validate: $(SAM)
	@$(SAM_ENV) $(SAM) validate --lint --template-file infra/template.yaml

# Builds into .aws-sam/build with the settings in samconfig.toml (no container: python3.11 on PATH).
sam-build: $(SAM)
	@$(SAM_ENV) $(SAM) build --template-file infra/template.yaml
