# Qualia Pipelines — the two commands the README promises, and their parts.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
INBOX  := data/inbox
export DAGSTER_HOME ?= $(CURDIR)/data/dagster_home

.PHONY: demo ui instance setup test lint bench lock clean

## Set up, drop the samples into the inbox and process them through Dagster (the main job).
demo: setup instance
	mkdir -p $(INBOX)
	for f in samples/*; do [ -e $(INBOX)/$$(basename $$f) ] || cp $$f $(INBOX)/; done
	$(BIN)/qualia run

## The Dagster UI on http://127.0.0.1:3000 with the inbox sensor and schedules running.
ui: setup instance
	mkdir -p $(INBOX)
	$(BIN)/dagster dev -h 127.0.0.1 -p 3000

## The embedded SQLite instance, configured by ops/dagster.yaml (an existing dagster.yaml is kept).
instance:
	mkdir -p $(DAGSTER_HOME)
	[ -e $(DAGSTER_HOME)/dagster.yaml ] || cp ops/dagster.yaml $(DAGSTER_HOME)/dagster.yaml

## Create the virtual environment and install Qualia with its dev tools, at the versions in requirements.lock.
setup: $(BIN)/qualia

$(BIN)/qualia: pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e ".[dev]"
	touch $(BIN)/qualia

## Re-resolve requirements.lock: the newest versions pyproject.toml allows, in a fresh environment.
lock:
	rm -rf .lock-venv
	$(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet --upgrade pip
	.lock-venv/bin/python -m pip install --quiet -e ".[dev]"
	{ echo "# Exact versions Qualia is tested with: \`make setup\` and ops/Dockerfile install with -c requirements.lock."; \
	  echo "# Regenerate with \`make lock\` (README, \"Upgrading dependencies\"); do not edit by hand."; \
	  .lock-venv/bin/python -m pip freeze --exclude-editable; } > requirements.lock
	rm -rf .lock-venv

## Lint, then run the test suite.
test: setup lint
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: setup
	$(BIN)/python bench/engine.py
	$(BIN)/python bench/pipeline.py
	$(BIN)/python bench/api.py
	$(BIN)/python bench/adversarial.py
	$(BIN)/python bench/scale.py
	$(BIN)/python bench/automation.py
	$(BIN)/python bench/sentiment.py

clean:
	rm -rf $(VENV) data .pytest_cache .ruff_cache
