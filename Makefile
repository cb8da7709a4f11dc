# The two commands of README.md. `make run` installs and starts the server with the demo vendor;
# `make test` installs the test extras and runs the whole suite (ruff, then pytest).
VENV ?= .venv
PY := $(VENV)/bin/python

$(PY):
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

install: $(PY)
	$(PY) -m pip install -q -e .

install-test: $(PY)
	$(PY) -m pip install -q -e '.[test]'

run: install
	$(VENV)/bin/palabre run

test: install-test
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q

.PHONY: install install-test run test
