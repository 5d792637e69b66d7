# The two commands of the README: `make demo` (the main job) and `make test` (the test suite).
# Both set up what they need first: Debian packages and the Asterisk lab chroot (as root), a venv.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: demo test lint system venv bench clean frslint

venv: $(BIN)/.installed

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

system:
	.ci/install-system

demo: system venv
	$(BIN)/ivr400 demo --call

# Static checks first (style, types, the layering contract of docs/architecture.md), so CI fails on a new
# import cycle before any test runs; then the whole suite.
test: system venv lint frslint
	$(BIN)/python -m pytest -q -rs

# frslint (FreeSWITCH XML lint, PyPI) in its own venv: it installs top-level packages named debug, log, lint.
frslint: .venv-frslint/bin/frslint

.venv-frslint/bin/frslint:
	$(PYTHON) -m venv .venv-frslint
	.venv-frslint/bin/pip install --quiet frslint==0.1.0

lint: venv
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# All benchmarks, one after the other; each prints its figures and ratios (the calls one needs the lab).
bench: system venv
	$(BIN)/python bench/bench_cli.py
	$(BIN)/python bench/bench_render.py
	$(BIN)/python bench/bench_controller.py
	$(BIN)/ivr400 lab up
	$(BIN)/python bench/bench_calls.py
	$(BIN)/python bench/bench_reload_leak.py
	$(BIN)/python bench/bench_node_astdb.py
	$(BIN)/python bench/bench_controller_reload.py

clean:
	rm -rf $(VENV) .venv-frslint .pytest_cache
