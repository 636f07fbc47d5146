# Two entry points, each creating .venv as needed: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# CPU build of torch pinned first so no CUDA build is ever pulled in.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/hynas search --space default --target ort-cpu --budget 20 --train-steps 100 --screen 3 --time-budget 8m --run-dir runs/demo
	$(BIN)/hynas plot runs/demo --landmarks nextvit_s,caformer_s18,lowformer_b0
	$(BIN)/hynas export runs/demo --pick knee --out runs/demo/model.py

test: $(STAMP)
	$(BIN)/ruff check hynas tests benchmarks
	$(BIN)/python -m pytest -q -x --timeout 600

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow --timeout 3600

.PHONY: venv demo test test-slow
