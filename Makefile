# acdc-operator developer entry points. Every target works on a fresh machine:
# `make test` and `make quickstart` create the virtualenv and install what they need.

PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
# Two steps, so that `make quickstart` installs only what a run needs (the test tools add
# about half a minute) and `make test` adds the rest to the same virtualenv.
RUN_STAMP := $(VENV)/.installed-run
STAMP := $(VENV)/.installed
# The CPU wheel of torch must come first, or pip resolves a multi-GB CUDA build.
TORCH ?= torch==2.13.0
# Test processes (pytest-xdist): the cores this process may use (nproc reads its CPU affinity;
# xdist's `auto` counts physical cores, one on a 2-vCPU VM), at most 4, as each builds its own
# finished MINI run. A test file stays on one worker so that its module fixtures are built
# once; `make test JOBS=0` runs everything in this process.
JOBS ?= $(shell n=$$(nproc 2>/dev/null || echo 1); echo $$(( n < 4 ? n : 4 )))
PYTEST_ARGS ?=

.PHONY: install system-deps test quickstart crd lint bench images clean

$(RUN_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e '.[eval]'
	touch $(RUN_STAMP)

$(STAMP): $(RUN_STAMP)
	$(BIN)/pip install -q -e '.[test,embeddings,eval]'
	touch $(STAMP)

install: $(STAMP)

# Debian packages the tests use: a real Prometheus (+ promtool), Chromium for the report and
# ShellCheck (hack/*.sh, and the run: steps actionlint checks in the image workflow).
system-deps:
	@command -v promtool >/dev/null && command -v chromium >/dev/null && command -v shellcheck >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq --no-install-recommends prometheus chromium shellcheck >/dev/null; \
	  else echo "install Debian packages prometheus, chromium and shellcheck (tests needing them are skipped)"; fi; }

test: install system-deps
	$(BIN)/python -m pytest -q -n $(JOBS) --dist loadfile $(PYTEST_ARGS)

quickstart: $(RUN_STAMP)
	$(BIN)/acdc run examples/quickstart.yaml --state runs/quickstart

# Regenerate everything derived from the spec, the RBAC rules and the metrics registry:
# crds/, the chart's CRD copy, its dashboard JSON and its RBAC rules.
crd: install
	$(BIN)/python -m acdc.chart_files charts/acdc-operator crds/coevolutionrun.yaml

lint: install
	$(BIN)/ruff check operator tests bench
	$(BIN)/mypy
	$(BIN)/acdc validate examples/*.yaml

bench: install
	@for script in bench/bench_*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

# Container images, tagged with the chart's appVersion (as .github/workflows/images.yaml does):
#   make images REGISTRY=registry.example.com/me [PUSH=1] [CONTAINER=podman]
# then point the chart (image.repository) and runs (spec.images.worker) at that registry.
REGISTRY ?= ghcr.io/acdc-operator
APP_VERSION := $(shell sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$$/\1/p' charts/acdc-operator/Chart.yaml)
CONTAINER ?= $(shell command -v docker || command -v podman || echo docker)
IMAGES := acdc-operator:images/operator/Dockerfile acdc-worker:images/worker/Dockerfile

images:
	@test -n "$(APP_VERSION)" || { echo "no appVersion in charts/acdc-operator/Chart.yaml"; exit 1; }
	@for pair in $(IMAGES); do \
	  name=$${pair%%:*}; file=$${pair#*:}; \
	  echo "$(CONTAINER) build -f $$file -t $(REGISTRY)/$$name:$(APP_VERSION) ."; \
	  $(CONTAINER) build -f $$file -t $(REGISTRY)/$$name:$(APP_VERSION) . || exit 1; \
	  if [ -n "$(PUSH)" ]; then $(CONTAINER) push $(REGISTRY)/$$name:$(APP_VERSION) || exit 1; fi; \
	done

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
