# Two entry points, each doing every install step itself on a fresh machine:
#   make demo   broker + simulated world + worker + replay, end to end
#   make test   ruff + the whole test suite (starts its own Kafka broker)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: demo test lint bench install clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev]"
	$(BIN)/python -c "from nearline.broker import resolve_jars; print('kafka jars:', resolve_jars())"
	$(BIN)/python -c "from scoring.recommend import compile_kernels; compile_kernels()"
	rm -f $(VENV)/.installed-*
	touch $@

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest

demo: $(STAMP)
	$(BIN)/nearline demo

bench: $(STAMP)
	for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
