# Appointment Scheduler. `make help` lists the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash

# Python 3.13 where pyenv or the system has it, else the newest python3 (3.11 at least).
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	if PYENV_VERSION=3.13.0 $$p -c 'import sys; assert sys.version_info >= (3, 11)' 2>/dev/null; then \
	echo "env PYENV_VERSION=3.13.0 $$p"; break; fi; done)
VENV := .venv
SAM_VENV := .venv-sam
CHECKOV_VENV := .venv-checkov
AWSCLI_VENV := .venv-awscli
PY := $(VENV)/bin/python
PIP_FLAGS := --quiet --disable-pip-version-check
# Two test workers (CI has two cores), sharing out single tests; a file marked xdist_group runs on one.
PYTEST_ARGS ?= --numprocesses 2 --dist loadgroup
export SAM_CLI_TELEMETRY := 0

.PHONY: help install run test lint scan package deploy destroy bench clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z]+:.*## / {printf "  make %-8s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(VENV)/.installed: requirements/dev.txt requirements/lambda.txt
	@test -n "$(PYTHON)" || { echo "Python 3.11 or later is needed"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install $(PIP_FLAGS) -r requirements/dev.txt
	@touch $@

$(SAM_VENV)/.installed: requirements/sam.txt
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install $(PIP_FLAGS) -r requirements/sam.txt
	@touch $@

$(CHECKOV_VENV)/.installed: requirements/checkov.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install $(PIP_FLAGS) -r requirements/checkov.txt
	@touch $@

$(AWSCLI_VENV)/.installed: requirements/awscli.txt
	$(PYTHON) -m venv $(AWSCLI_VENV)
	$(AWSCLI_VENV)/bin/python -m pip install $(PIP_FLAGS) -r requirements/awscli.txt
	@touch $@

install: $(VENV)/.installed $(SAM_VENV)/.installed $(CHECKOV_VENV)/.installed $(AWSCLI_VENV)/.installed ## Create .venv, .venv-sam, .venv-checkov and .venv-awscli with pinned dependencies

run: $(VENV)/.installed ## Run the whole system locally on moto: API and manage pages on http://127.0.0.1:PORT (default 3000)
	$(PY) scripts/run_local.py

test: install ## Unit, template, lint, scan, moto, end-to-end and browser tests (what .ci/run calls)
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing Debian's chromium and chromium-driver for the browser test ..."; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	  else echo "No chromium/chromedriver: the browser test is skipped (sudo apt-get install chromium chromium-driver)"; fi; \
	fi
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install ## ruff, cfn-lint and sam validate --lint (make scan runs checkov)
	$(VENV)/bin/ruff check src scripts tests
	$(VENV)/bin/cfn-lint template.json
	$(SAM_VENV)/bin/sam validate --lint --template template.json --region us-east-1

scan: $(CHECKOV_VENV)/.installed ## Security scan of template.json (checkov); suppressions carry reasons
	$(CHECKOV_VENV)/bin/checkov -f template.json --framework cloudformation --compact --quiet --skip-download

package: $(VENV)/.installed ## Build the reproducible Lambda zip in build/
	$(PY) scripts/package.py

deploy: $(VENV)/.installed ## Deploy to AWS (STACK_NAME, ENV, REGION, PARAMETERS; AWS_ENDPOINT_URL for moto)
	$(PY) scripts/deploy.py deploy

destroy: $(VENV)/.installed ## Delete the stack (the artifacts bucket is kept)
	$(PY) scripts/deploy.py destroy

bench: $(VENV)/.installed ## Measure calls, units, cold import, zip size, local throughput; writes docs/BENCHMARKS.md, the series table of docs/SCALING.md
	$(PY) scripts/bench

clean: ## Remove build output and caches (keeps the virtual environments and their caches)
	rm -rf build dist .pytest_cache .ruff_cache .hypothesis
	find . \( -path './.venv*' -o -path ./.git \) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
