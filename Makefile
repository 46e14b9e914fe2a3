# Two commands for a newcomer: `make run` and `make test`. Both create .venv on first use.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.bulkmod-installed

.PHONY: run test lint install benchmark clean

$(BIN)/python:
	$(PY) -m venv $(VENV)

# constraints.txt pins the tested set, torch included (its 2.13.0 CPU wheel: an unpinned torch pulls CUDA).
$(STAMP): pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[all,dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/bulkmod predict examples/

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

test: $(STAMP) lint
	$(BIN)/python -m pytest -q tests

clean:
	rm -rf $(VENV) .pytest_cache build src/*.egg-info
