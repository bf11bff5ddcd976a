# Two commands (README): `make reproduce` (the whole pipeline on the synthetic default, into reports/)
# and `make test`. Both create the project venv from the pinned requirements when it is missing.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PROFILE ?= demo

.PHONY: venv reproduce test bench lint clean-data notebooks

$(STAMP): requirements.txt requirements-lock.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements.txt -c requirements-lock.txt
	$(PY) -m pip install --disable-pip-version-check -q --no-deps -e .
	touch $(STAMP)

venv: $(STAMP)

reproduce: $(STAMP)
	$(PY) -m stanet_lib run --profile $(PROFILE)

test: $(STAMP)
	$(PY) -m pytest

bench: $(STAMP)
	$(PY) -m stanet_lib bench

notebooks: $(STAMP)
	$(PY) -m jupytext --sync notebooks/*.py

clean-data:
	rm -rf data/synthetic data/cache data/runs
