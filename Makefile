# Two commands on a fresh machine: `make run` and `make test`. Everything else is installed from uv.lock, compiled
# to bytecode once (the machines set PYTHONDONTWRITEBYTECODE: without it every process compiled its imports again).
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
DATA ?= data
PERSONS ?= 20000
SEED ?= 1
MONTHS ?= 3
PORT ?= 3000
API_PORT ?= 8000
WEB_PORT ?= 8090
DOCS_PORT ?= 8070
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
# the demo targets run in demo mode: synthetic data, the public development keys allowed (and said so everywhere);
# outside it every secret must be set (docs: Operations, Secrets)
DEMO := DTSEN_DEMO=1

.PHONY: setup run status synth test lint format ui serve web browser bench bench-scale validate clean docs docs-site docs-serve

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: $(UV) uv.lock pyproject.toml
	$(UV) sync --frozen --quiet --compile-bytecode
	@touch $@

DBT_MANIFEST := dbt_project/target/manifest.json
DBT_SOURCES := $(shell find dbt_project -path dbt_project/target -prune -o -type f \( -name '*.sql' -o -name '*.yml' -o -name '*.csv' -o -name '*.md' \) -print)

DBT_PREPARED := $(DATA)/dbt/warehouse/partial_parse.msgpack

setup: $(VENV)/.synced $(DAGSTER_HOME)/dagster.yaml $(DBT_MANIFEST) $(DBT_PREPARED)

# dbt's manifest, which the dbt assets load at import (parsed again whenever a model, seed or yml changes)
$(DBT_MANIFEST): $(VENV)/.synced $(DBT_SOURCES)
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/dagster-dbt project prepare-and-package --file orchestration/lib/dbt_project.py > /dev/null
	@touch $@

# dbt's saved parse for the default warehouse (what `make run` builds), so its first month does not parse the whole
# project again (every later month reuses the parse anyway); dbt leaves the file as it was when nothing changed,
# so it is touched: otherwise every make after the manifest's rewrite (dagster dev re-parses) would parse again
$(DBT_PREPARED): $(DBT_MANIFEST)
	$(BIN)/dtsen prepare-dbt --data $(DATA) > /dev/null
	@touch $@

$(DAGSTER_HOME)/dagster.yaml: orchestration/dagster.yaml
	@mkdir -p $(DAGSTER_HOME)
	cp orchestration/dagster.yaml $@

synth: setup
	$(BIN)/dtsen synth --persons $(PERSONS) --seed $(SEED) --months $(MONTHS) --out $(DATA)/landing

run: setup
	$(DEMO) $(BIN)/dtsen demo --persons $(PERSONS) --seed $(SEED) --months $(MONTHS) --data $(DATA)

# per month: built, partial or missing and why, which marts hold it, the payment files (the demo's instance)
status: setup
	$(BIN)/dtsen status --data $(DATA)

test: setup browser lint
	$(DEMO) $(BIN)/python -m pytest -q

# ruff: the linter and the formatter's check (`make format` rewrites the files)
lint: $(VENV)/.synced
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.synced
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Debian's Chromium for the browser tests of the web pages (installed with apt when missing)
browser:
	@.ci/ensure-chromium

# the data-exchange API (DCI Social Registry API) over the warehouse `make run` built
serve: setup
	$(DEMO) $(BIN)/dtsen serve --port $(API_PORT) --data $(DATA)

# Cek Bansos and the caseworker desk over what `make run` built (demo users: see `make run`'s last lines)
web: setup
	$(DEMO) $(BIN)/dtsen web --port $(WEB_PORT) --data $(DATA)

validate: setup
	$(BIN)/dagster definitions validate -w workspace.yaml

ui: setup
	umask 077 && $(DEMO) DTSEN_DATA=$(DATA) PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/dagster dev -w workspace.yaml --port $(PORT)

bench: export DTSEN_DEMO = 1
bench: setup
	$(BIN)/python bench/synth.py --persons 1000000
	$(BIN)/python bench/ingest.py --persons 1000000
	$(BIN)/python bench/linkage.py --persons 1000000
	$(BIN)/python bench/pipeline.py --persons 100000
	$(BIN)/python bench/pipeline.py --persons 1000000
	$(BIN)/python bench/api.py --persons 1000000
	$(BIN)/python bench/scale.py --persons 100000,1000000 --engine spark

# how cost grows with the population, up to 10 M persons (long: hours on 2 cores)
bench-scale: export DTSEN_DEMO = 1
bench-scale: setup
	$(BIN)/python bench/scale.py --persons 100000,1000000,3000000,10000000 --plot docs/img/scale.png

# the documentation site (MkDocs, Material theme): into site/, or served on DOCS_PORT
docs-site: $(VENV)/.synced
	$(BIN)/mkdocs build --strict --site-dir site

docs-serve: $(VENV)/.synced
	$(BIN)/mkdocs serve --dev-addr 127.0.0.1:$(DOCS_PORT)

# dbt's own docs (lineage, column descriptions, tests) for the demo warehouse
docs: setup
	cd dbt_project && DTSEN_WAREHOUSE=$(CURDIR)/$(DATA)/warehouse.duckdb ../$(BIN)/dbt docs generate --profiles-dir . \
		&& ../$(BIN)/dbt docs serve --profiles-dir . --port 8080

clean:
	rm -rf $(DATA) .dagster_home .pytest_cache site
