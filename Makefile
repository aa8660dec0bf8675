# The two commands a newcomer needs:
#   make run   — install what is missing, start shipway with its embedded defaults
#   make test  — install what is missing, run the whole test suite
# Both are idempotent: a second run installs nothing.

SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: run test setup test-unit test-integration test-e2e bench clean-data help

help:
	@echo "make run    install what is missing and start shipway (SHIPWAY_HOST/PORT/DATA_DIR honoured)"
	@echo "make test   install what is missing and run unit, integration and end-to-end tests"

setup:
	@scripts/setup.sh

run: setup
	@exec $(VENV)/bin/shipway serve

test: setup
	$(VENV)/bin/pytest $(PYTEST_ARGS)

test-unit:
	@scripts/setup.sh venv
	$(VENV)/bin/pytest tests/unit $(PYTEST_ARGS)

test-integration: setup
	$(VENV)/bin/pytest tests/integration $(PYTEST_ARGS)

test-e2e: setup
	$(VENV)/bin/pytest tests/e2e $(PYTEST_ARGS)

clean-data:
	rm -rf .shipway test-output
