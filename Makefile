# Ferry's one-verb targets. The two that matter: `make dev` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv kube dev dev-down test lint unit bench clean

$(STAMP): pyproject.toml constraints.txt
	@echo "make: creating the virtualenv in $(VENV) ..."
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	@touch $@

venv: $(STAMP)

# The control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, helm),
# built once per machine from the pinned Go modules into ~/.cache/ferry.
kube:
	@hack/kube/build.sh >/dev/null

dev: $(STAMP) kube
	$(BIN)/python -m localkube dev

dev-down: $(STAMP)
	$(BIN)/python -m localkube down

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest tests/unit

test: $(STAMP) kube lint
	$(BIN)/pytest

bench: $(STAMP) kube
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
