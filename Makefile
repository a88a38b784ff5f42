# acdc-operator developer entry points. Every target works on a fresh machine:
# `make test` and `make quickstart` create the virtualenv and install what they need.

PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The CPU wheel of torch must come first, or pip resolves a multi-GB CUDA build.
TORCH ?= torch==2.13.0
PYTEST_ARGS ?=

.PHONY: install system-deps test quickstart crd lint bench images clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e '.[test,embeddings]'
	touch $(STAMP)

install: $(STAMP)

# Debian packages the tests use: a real Prometheus (+ promtool) and Chromium for the report.
system-deps:
	@command -v promtool >/dev/null && command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq --no-install-recommends prometheus chromium >/dev/null; \
	  else echo "install Debian packages prometheus and chromium (tests needing them are skipped)"; fi; }

test: install system-deps
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

quickstart: install
	$(BIN)/acdc run examples/quickstart.yaml --state runs/quickstart

# Regenerate everything derived from the spec, the RBAC rules and the metrics registry:
# crds/, the chart's CRD copy, its dashboard JSON and its RBAC rules.
crd: install
	$(BIN)/python -m acdc.metrics.chart_files charts/acdc-operator crds/coevolutionrun.yaml

lint: install
	$(BIN)/ruff check operator tests bench
	$(BIN)/mypy
	$(BIN)/acdc validate examples/*.yaml

bench: install
	@for script in bench/bench_*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

images:
	docker build -f images/operator/Dockerfile -t ghcr.io/acdc-operator/acdc-operator:0.1.0 .
	docker build -f images/worker/Dockerfile -t ghcr.io/acdc-operator/acdc-worker:0.1.0 .

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
