# RenderHub: `make run` (try it, embedded default) and `make test` (the whole suite).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8000

# Test services (PostgreSQL with trust auth, Redis); override on the command line.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/renderhub
TEST_BROKER_URL ?= redis://127.0.0.1:6379/15
# Engine tests run fake vendors on loopback, which is refused unless allowlisted.
TEST_ENGINE_HOSTS ?= api.openai.com,generativelanguage.googleapis.com,aiplatform.googleapis.com,*.aiplatform.googleapis.com,*-aiplatform.googleapis.com,api.stability.ai,api.ideogram.ai,127.0.0.1

.PHONY: run test lint system-run system-test services clean

$(VENV)/.base: requirements/base.txt requirements/prod.txt
	@py=$$(bash .ci/find-python); \
	 [ -x "$(PY)" ] || $$py -m venv $(VENV); \
	 $(PY) -m pip install -q --upgrade pip; \
	 $(PY) -m pip install -q -r requirements/prod.txt
	@touch $@

$(VENV)/.dev: $(VENV)/.base requirements/dev.txt
	$(PY) -m pip install -q -r requirements/dev.txt
	@touch $@

system-run:
	@bash .ci/system-packages.sh run

system-test:
	@bash .ci/system-packages.sh test

services:
	@bash .ci/services.sh

# The embedded default is a local, single-user set-up: DEBUG on (settings default it off), which
# also keeps a random secret key in var/secret_key. Override with `DEBUG=false make run`.
run: export DEBUG ?= true
test: export DEBUG ?= true

run: system-run $(VENV)/.base
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo
	$(PY) manage.py run_embedded --port $(PORT)

test: system-test $(VENV)/.dev services
	DATABASE_URL=$(TEST_DATABASE_URL) CELERY_BROKER_URL=$(TEST_BROKER_URL) \
	  RENDERHUB_VAR_DIR=$(CURDIR)/var/test RENDERHUB_ENGINE_HOST_ALLOWLIST='$(TEST_ENGINE_HOSTS)' \
	  $(PY) -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.dev
	$(PY) -m ruff check .
	$(VENV)/bin/lint-imports

clean:
	rm -rf var/test .pytest_cache
