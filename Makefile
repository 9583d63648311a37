# Two entry points for a newcomer on a bare machine (see README):
#   make demo   - create .venv, install everything, materialize the demo quarter end to end
#   make test   - create .venv, install everything (+ test tools), run the test suite
#   make test-fast - the edit-test loop: every test that needs neither Postgres nor the model
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# CPU wheel of torch (on this machine it is served from local disk). On a GPU box install the CUDA
# build first (README "GPU install") or pass TORCH_SPEC, e.g. TORCH_SPEC="torch==2.13.0".
TORCH_SPEC ?= torch==2.13.0
PYTEST_ARGS ?=

.PHONY: install install-test demo test test-fast lint dev bench checkov

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install -q "$(TORCH_SPEC)"
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/pip install -q -e ".[test]"
	command -v shellcheck >/dev/null || (apt-get update -qq && apt-get install -y -qq shellcheck >/dev/null)
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

demo: install
	$(BIN)/ftm demo

# checkov lives in its own venv: installed beside the project it downgrades boto3/packaging and
# replaces the hcl2 module (infra/README.md).
CHECKOV_VENV ?= .venv-checkov
$(CHECKOV_VENV)/bin/checkov:
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install -q "checkov==3.3.30"

checkov: $(CHECKOV_VENV)/bin/checkov
	$(CHECKOV_VENV)/bin/checkov -d infra --quiet --compact --skip-download
	$(CHECKOV_VENV)/bin/checkov -d infra --quiet --compact --skip-download --var-file infra/examples/ecs.tfvars

test: install-test checkov
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest $(PYTEST_ARGS)

# no Postgres, no model (tests marked slow, see ftm_assets_tests/conftest.py): a few minutes
test-fast: install-test
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

lint: install-test
	$(BIN)/ruff check ftm_assets ftm_assets_tests

dev: install
	$(BIN)/ftm dev

bench: install-test
	$(BIN)/ftm bench --quick
