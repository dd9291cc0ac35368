# leadscore — the two commands are `make up` and `make test`; `make help` lists the rest.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

ROOT := $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))
# read-only companions (validator, CRDs, data sets); CI has them at ../shared too
SHARED_DIR ?= $(abspath $(ROOT)/../shared)
export SHARED_DIR
export UV_PYTHON_DOWNLOADS := never
export PATH := $(ROOT)/.tools/bin:$(PATH)
unexport UV_PROJECT_ENVIRONMENT VIRTUAL_ENV

UV := $(ROOT)/scripts/uv
ROOT_PY := $(ROOT)/.venv/bin/python

# ------------------------------------------------------------------ environments
# One uv project (pyproject.toml + uv.lock + .venv) per container image:
#   .                          tools/training image (root project; tests: tests/ minus the dirs below)
#   <dir> in ENV_PROJECTS      that image's project; its tests are tests/<dir>, run with <dir>/.venv
# A project exists iff <dir>/pyproject.toml exists: targets skip the ones that do not (yet).
# This list is the only place that maps envs to test dirs (tests/tooling checks it is complete).
# library projects among them: an env and tests of their own, no image (the images install them)
LIB_PROJECTS := model_server/front
ENV_PROJECTS := model_server/front model_server/predictor model_server/transformer monitors
PRESENT_PROJECTS = $(patsubst %/pyproject.toml,%,$(wildcard $(addsuffix /pyproject.toml,$(ENV_PROJECTS))))

.PHONY: help envs test test-root test-manifests test-envs lint format typecheck validate-manifests \
        manifests dashboards k8s-tools services up down clean-envs

help: ## list the targets
	@echo "leadscore: make up (run the whole stack locally) | make test (all tests + lint)"
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-20s %s\n", $$1, $$2}'
	@echo "  image projects: $(ENV_PROJECTS) (present: $(or $(PRESENT_PROJECTS),none))"

envs: ## install uv, every project env, the validator venv, kubectl+helm (idempotent)
	@$(ROOT)/scripts/envs.sh $(ENV_PROJECTS)

test: envs ## THE test command: every env's tests, manifest validation, lint; summary at the end
	@$(ROOT)/scripts/run-tests.sh $(ENV_PROJECTS)

test-root: ## root env tests only (no envs step; args: PYTEST="-k foo")
	@$(ROOT_PY) -m pytest tests --ignore=tests/manifests $(addprefix --ignore=tests/,$(ENV_PROJECTS)) $(PYTEST)

test-manifests: ## render + validate every manifest dir / chart / workflow (pytest)
	@$(ROOT_PY) -m pytest tests/manifests $(PYTEST)

test-envs: ## image projects' tests, each in its own env
	@for p in $(PRESENT_PROJECTS); do \
	  if [[ -d tests/$$p ]]; then echo "==> $$p"; $$p/.venv/bin/python -m pytest tests/$$p $(PYTEST); \
	  else echo "==> $$p: no tests/$$p yet"; fi; \
	done

lint: ## ruff check + ruff format --check over the whole repo (config in pyproject.toml)
	@$(ROOT)/.venv/bin/ruff check $(ROOT)
	@$(ROOT)/.venv/bin/ruff format --check $(ROOT)

FILES ?= .
format: ## ruff import sorting + formatter on FILES (default: the whole repo; mind others' files)
	@$(ROOT)/.venv/bin/ruff check --select I --fix $(FILES)
	@$(ROOT)/.venv/bin/ruff format $(FILES)

typecheck: ## mypy on every package (also the last step of `make test`)
	@$(ROOT)/.venv/bin/mypy core/leadscore_core leadscore training workflows model_server/front/leadscore_front model_server/transformer/leadscore_transformer \
	    model_server/predictor/leadscore_predictor monitors/leadscore_monitors bench

validate-manifests: ## render + validate manifests without pytest (plain report)
	@python3 $(ROOT)/scripts/manifests.py

manifests: ## regenerate manifests/ (kustomize) from charts/leadscore: the chart is the source
	@$(ROOT_PY) $(ROOT)/scripts/gen_manifests.py

dashboards: ## regenerate charts/leadscore/dashboards/*.json from leadscore/observability/dashboards.py
	@$(ROOT_PY) -m leadscore.observability.dashboards

k8s-tools: ## kubectl 1.34.5 + helm 3.19.0 into .tools/bin
	@python3 $(ROOT)/scripts/install_k8s_tools.py

services: ## start PostgreSQL and Redis when they are not running
	@$(ROOT)/scripts/services.sh start

# ------------------------------------------------------------------ the local stack
CANARY_FAULT ?= none
up: envs ## fresh machine -> data, CRM, medallion, model, live endpoint, drift replay, retraining, canary (CANARY_FAULT=latency)
	@CANARY_FAULT="$(CANARY_FAULT)" $(ROOT)/scripts/local/up.sh

down: ## stop the servers `make up` left running
	@$(ROOT)/scripts/local/down.sh

clean-envs: ## remove every venv and .tools (the next `make envs` rebuilds them from the uv cache)
	rm -rf $(ROOT)/.venv $(ROOT)/.venvs $(ROOT)/.tools $(addsuffix /.venv,$(addprefix $(ROOT)/,$(ENV_PROJECTS)))
