# Lifeboat — the documented entry points. Every target bootstraps what it needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
SAM_VENV := .venv-sam
BIN := $(VENV)/bin
SAM_BIN := $(SAM_VENV)/bin
SAM_CLI_VERSION := 1.170.0
CFN_LINT_VERSION := 1.58.0
export SAM_CLI_TELEMETRY := 0
export AWS_REGION ?= us-east-1
export MOTO_EC2_LOAD_DEFAULT_AMIS := false

.PHONY: help demo test lint typecheck unit integration pytest validate build bench deploy clean

help:
	@echo "make demo   - the whole lifecycle against the local AWS emulator"
	@echo "make test   - ruff, mypy, pytest, sam validate --lint, sam build"
	@echo "make bench  - the fleet benchmark (JSON in \$$BENCH_OUT; BENCH_SIZES=50,200 BENCH_ARGS=--batch-size 10)"
	@echo "make build  - sam build;  make deploy - sam deploy --guided"

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

# SAM CLI lives in its own venv: its pins clash with moto's.
$(SAM_BIN)/.installed:
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_BIN)/pip install --quiet --upgrade pip
	$(SAM_BIN)/pip install --quiet "aws-sam-cli==$(SAM_CLI_VERSION)" "cfn-lint==$(CFN_LINT_VERSION)"
	touch $@

demo: $(BIN)/.installed
	$(BIN)/lifeboat demo

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(BIN)/.installed
	$(BIN)/mypy layers/lifeboat/lifeboat tests
	@for handler in functions/*/app.py; do $(BIN)/mypy "$$handler" || exit 1; done

pytest: $(BIN)/.installed
	$(BIN)/pytest

unit: $(BIN)/.installed
	$(BIN)/pytest -m unit

integration: $(BIN)/.installed
	$(BIN)/pytest -m integration

validate: $(SAM_BIN)/.installed
	$(SAM_BIN)/sam validate --lint

build: $(SAM_BIN)/.installed
	PATH="$(CURDIR)/$(SAM_VENV)/bin:$$PATH" $(SAM_BIN)/sam build

test: lint typecheck pytest validate build

bench: $(BIN)/.installed
	$(BIN)/python -m lifeboat.bench $(BENCH_ARGS)

deploy: build
	$(SAM_BIN)/sam deploy --guided

clean:
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache .hypothesis
