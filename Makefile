# Every target sets up what it needs: a fresh machine only needs python3 (>= 3.11) and make.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test bench fuzz schemas lint clean local-aws

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,local]'
	touch $(STAMP)

## make demo: local AWS endpoint, validate, plan, apply, a no-change plan, a drift corrected
demo: $(STAMP)
	bash scripts/demo.sh

## make test: the whole test suite, against a real local moto server
test: $(STAMP)
	$(BIN)/pytest -q -n 2 --dist loadfile --durations=15

## make bench: benchmarks (never part of make test); numbers go to tests/bench/results/
bench: $(STAMP)
	$(BIN)/python -m tests.bench

## make fuzz: long fuzz campaigns (tests/fuzz/, never part of make test)
fuzz: $(STAMP)
	$(BIN)/python -m tests.fuzz

schemas: $(STAMP)
	$(BIN)/controller schemas

lint: $(STAMP)
	$(BIN)/ruff check controller tests
	$(BIN)/mypy controller

local-aws: $(STAMP)
	$(BIN)/controller local-aws

clean:
	rm -rf $(VENV) .demo .pytest_cache .mypy_cache .ruff_cache
