# Two commands on a fresh machine:  `make demo` (the campaign on the emulated board)  and  `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint typecheck bench clean

# The CPU wheel on the project's machines, installed first; pyproject.toml allows torch>=2.1,<3.
TORCH := torch==2.13.0

$(BIN)/hil: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet '$(TORCH)'
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $@

# The main job: the whole pipeline (probe ... report) on the emulated board, quick profile.
demo: $(BIN)/hil
	$(BIN)/hil campaign --quick --out reports/demo

test: $(BIN)/hil
	$(BIN)/python -m pytest -q

lint: $(BIN)/hil
	$(BIN)/ruff check hil tests benchmarks
	$(BIN)/ruff format --check hil tests benchmarks

typecheck: $(BIN)/hil
	$(BIN)/mypy hil

bench: $(BIN)/hil
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache .hypothesis
