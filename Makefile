# The two commands of the README: `make demo` (the main job) and `make test` (the test suite).
# Both set up what they need first: Debian packages and the Asterisk lab chroot (as root), a venv.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: demo test system venv bench clean

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

test: system venv
	$(BIN)/python -m pytest -q -rs

# All benchmarks, one after the other; each prints its figures and ratios (the calls one needs the lab).
bench: system venv
	$(BIN)/python bench/bench_cli.py
	$(BIN)/python bench/bench_render.py
	$(BIN)/python bench/bench_controller.py
	$(BIN)/ivr400 lab up
	$(BIN)/python bench/bench_calls.py

clean:
	rm -rf $(VENV) .pytest_cache
