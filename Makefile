# Lifeboat — the documented entry points. Every target bootstraps what it needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
SAM_VENV := .venv-sam
BIN := $(VENV)/bin
SAM_BIN := $(SAM_VENV)/bin
SAM_CLI_VERSION := 1.170.0
CFN_LINT_VERSION := 1.58.0
# AWS's own rules, checked before anything reaches an account (docs/development/testing.md).
# asl-validator's version is pinned (with its dependencies) in .node/package-lock.json.
CFN_LINT_SERVERLESS_VERSION := 0.3.6
PARLIAMENT_VERSION := 1.6.4
CHECKOV_VERSION := 3.3.30
NODE_DIR := .node
ASL_VALIDATOR := $(NODE_DIR)/node_modules/.bin/asl-validator
SAM_GATES := $(SAM_BIN)/.gates-$(CFN_LINT_SERVERLESS_VERSION)-$(PARLIAMENT_VERSION)
CHECKOV_VENV := .venv-checkov
CHECKOV_BIN := $(CHECKOV_VENV)/bin
export SAM_CLI_TELEMETRY := 0
export AWS_REGION ?= us-east-1
export MOTO_EC2_LOAD_DEFAULT_AMIS := false
export NO_MKDOCS_2_WARNING := 1

.PHONY: help demo test lint typecheck unit gates-tests integration pytest validate build bench \
	deploy clean gates asl serverless-rules iam checkov chromium browser docs docs-gen docs-screenshots

help:
	@echo "make demo   - the whole lifecycle against the local AWS emulator"
	@echo "make test   - ruff, mypy, AWS's rules (make gates), pytest, sam validate --lint, sam build"
	@echo "make gates  - asl-validator, cfn-lint + serverless rules, IAM reference check, checkov"
	@echo "make bench  - the fleet benchmark (JSON in \$$BENCH_OUT; BENCH_SIZES=50,200 BENCH_ARGS=--batch-size 10)"
	@echo "make build  - sam build;  make deploy - sam deploy --guided"
	@echo "make docs   - the documentation site (mkdocs build --strict into site/)"
	@echo "make docs-gen - regenerate the reference pages from the code (tools/gen_docs.py)"

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

# The SAM venv also runs the serverless rules (a cfn-lint plugin) and the IAM check (parliament,
# with the SAM translator that venv already has).
$(SAM_GATES): $(SAM_BIN)/.installed
	$(SAM_BIN)/pip install --quiet "cfn-lint==$(CFN_LINT_VERSION)" \
		"cfn-lint-serverless==$(CFN_LINT_SERVERLESS_VERSION)" "parliament==$(PARLIAMENT_VERSION)"
	touch $@

# Checkov in a venv of its own: its pins clash with the SAM CLI's.
$(CHECKOV_BIN)/.installed:
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_BIN)/pip install --quiet --upgrade pip
	$(CHECKOV_BIN)/pip install --quiet "checkov==$(CHECKOV_VERSION)"
	touch $@

# Node tools in the project (nothing global), exactly as locked.
$(ASL_VALIDATOR): $(NODE_DIR)/package.json $(NODE_DIR)/package-lock.json
	npm ci --prefix $(NODE_DIR) --no-audit --no-fund --loglevel=error
	touch $@

# Headless Chromium for the report's browser test: Debian's package, installed once (nothing is
# downloaded at test time). Idempotent: nothing happens when it is already there.
CHROMIUM := /usr/bin/chromium
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
$(CHROMIUM):
	$(SUDO) apt-get install -y --no-install-recommends chromium || \
		($(SUDO) apt-get update && $(SUDO) apt-get install -y --no-install-recommends chromium)

chromium: $(CHROMIUM)

demo: $(BIN)/.installed
	$(BIN)/lifeboat demo

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(BIN)/.installed
	$(BIN)/mypy layers/lifeboat/lifeboat tests
	@for handler in functions/*/app.py; do $(BIN)/mypy "$$handler" || exit 1; done

# Two workers (pytest-xdist), one per core: each runs its own emulator on its own port.
PYTEST_WORKERS ?= 2
pytest: $(BIN)/.installed $(ASL_VALIDATOR) $(SAM_GATES) $(CHROMIUM)
	$(BIN)/pytest -n $(PYTEST_WORKERS)

unit: $(BIN)/.installed
	$(BIN)/pytest -m unit

gates-tests: $(BIN)/.installed $(ASL_VALIDATOR) $(SAM_GATES)
	$(BIN)/pytest -m gates

integration: $(BIN)/.installed
	$(BIN)/pytest -m integration

browser: $(BIN)/.installed $(CHROMIUM)
	$(BIN)/pytest -m browser

validate: $(SAM_BIN)/.installed
	$(SAM_BIN)/sam validate --lint

build: $(SAM_BIN)/.installed
	PATH="$(CURDIR)/$(SAM_VENV)/bin:$$PATH" $(SAM_BIN)/sam build
	$(PYTHON) tools/check_layer.py .aws-sam/build

# AWS's own rules. State names unique and the ASL schema (CloudFormation rejects the rest):
asl: $(ASL_VALIDATOR)
	@for definition in statemachines/*.asl.json; do \
		$(ASL_VALIDATOR) --json-path "$$definition" || exit 1; echo; done

# cfn-lint with the Serverless Rules (log retention, DLQs, redrive policies, ...):
serverless-rules: $(SAM_GATES)
	$(SAM_BIN)/cfn-lint template.yaml -a cfn_lint_serverless.rules

# Every IAM action, condition key and resource ARN against IAM's reference, after the SAM transform:
iam: $(SAM_GATES)
	$(SAM_BIN)/python tools/check_iam.py template.yaml

# Checkov's CloudFormation checks (offline: no Prisma Cloud download):
checkov: $(CHECKOV_BIN)/.installed
	$(CHECKOV_BIN)/checkov --file template.yaml --framework cloudformation --skip-download \
		--compact --quiet

gates: asl serverless-rules iam checkov

# The documentation site, built with --strict: a broken link or anchor, a nav entry to a missing
# page and a page left out of the nav (an orphan) fail it (mkdocs.yml, validation).
docs: $(BIN)/.installed
	$(BIN)/mkdocs build --strict

# The reference pages generated from the code (CLI, plans file, parameters, exit codes, tags,
# catalog items, IAM actions, state machine diagrams). tests/unit/test_docs_reference.py fails
# while one is stale.
docs-gen: $(BIN)/.installed
	$(BIN)/python -m tools.gen_docs

# The screenshots the docs show: the site built, served on loopback, shot by headless Chromium.
docs-screenshots: $(BIN)/.installed $(CHROMIUM)
	$(BIN)/python -m tests.browser.docs_site

test: lint typecheck docs gates pytest validate build

bench: $(BIN)/.installed
	$(BIN)/python -m lifeboat.bench $(BENCH_ARGS)

deploy: build
	$(SAM_BIN)/sam deploy --guided

clean:
	rm -rf .aws-sam site .pytest_cache .mypy_cache .ruff_cache .hypothesis $(NODE_DIR)/node_modules
