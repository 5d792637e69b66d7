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

bench: venv
	$(BIN)/python bench/bench_render.py

clean:
	rm -rf $(VENV) .pytest_cache
