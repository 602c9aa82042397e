# Qualia Pipelines — the two commands the README promises, and their parts.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
OUT    := data/outputs

.PHONY: demo setup test lint bench clean

## Set everything up and process the sample transcripts (the main job).
demo: setup
	$(BIN)/qualia batch samples --out $(OUT) --workers 2
	@echo "Results: $(OUT)/<plugin>/<transcript>.{json,png,html}"

## Create the virtual environment and install Qualia with its dev tools.
setup: $(BIN)/qualia

$(BIN)/qualia: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(BIN)/qualia

## Lint, then run the test suite.
test: setup lint
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: setup
	$(BIN)/python bench/engine.py

clean:
	rm -rf $(VENV) data .pytest_cache .ruff_cache
