# One entry point per job; the README's first two commands are `make setup main` and `make test`.
PYTHON ?= python
PIP ?= $(PYTHON) -m pip

.PHONY: setup main test test-all book clean

setup:  ## install torch (CPU, from local disk), abcparam with its torch, test, book and cluster (Ray) extras, and mup
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e ".[torch,test,book,cluster]" torch==2.13.0  # the pin: no extra pulls another torch
	$(PIP) install -q --no-deps mup==1.0.0

main:  ## derive every table, run the CPU coordinate checks, build the book
	abcparam main

test:  ## CI: lint, format and type gates, then the fast suite (everything but tests marked slow)
	$(PYTHON) -m ruff check abcparam tests experiments
	$(PYTHON) -m ruff format --check abcparam tests experiments
	$(PYTHON) -m mypy abcparam
	$(PYTHON) -m pytest -m "not slow" -q

test-all:  ## every test, slow experiments included
	$(PYTHON) -m pytest -q

book:  ## rebuild the Jupyter Book, executing every notebook
	abcparam book build

clean:
	rm -rf book/_build
