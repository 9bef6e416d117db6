# Two entry points: `make run` (the main job) and `make test` (the whole suite).
# Each builds .venv on first use from pinned versions.
# `make run PORT=9000 DB=/tmp/x.db APP=mymodule:register` overrides the defaults.
PYTHON ?= python3
PORT ?= 8080
DB ?= ./alo.db
APP ?= alo_actor.examples.greeting:register
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench clean

$(STAMP): pyproject.toml requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt -e .
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/alo serve --db $(DB) --port $(PORT) --app $(APP)

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy eventlog actors alo_actor benchmarks tests
	$(BIN)/pytest -q

bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
