# Two commands on a fresh machine: `make demo` (set-up + the main job end to end) and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
export TICKWH_HOME ?= $(CURDIR)/var
export DAGSTER_HOME ?= $(TICKWH_HOME)/dagster_home
DEMO_ARGS ?= --start 2024-01-01 --days 3 --trades-per-day 200000
DOCS_PORT ?= 8580

.PHONY: install demo test ui docs docs-serve lint bench clean dagster-home browser prometheus redis catchup cold-up cold-down

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q uv==0.13.8

# The lock pins every transitive version that was tested; pyproject names the direct ones.
# Bytecode is compiled once here: where PYTHONDONTWRITEBYTECODE is set (these machines set it), every
# Python process (a launched run, a dbt build, each test subprocess) otherwise compiles Dagster's and
# dbt's ~1,900 modules from source again, about 1.5 s of CPU per process start.
$(VENV)/.installed: pyproject.toml requirements.lock | $(BIN)/python
	$(BIN)/uv pip install --python $(BIN)/python -q --compile-bytecode -c requirements.lock -e '.[dev]'
	$(BIN)/python -m compileall -q ingest orchestration tickwh bench tests >/dev/null
	@touch $@

install: $(VENV)/.installed

dagster-home:
	@mkdir -p $(DAGSTER_HOME)
	@ln -sf $(CURDIR)/dagster.yaml $(DAGSTER_HOME)/dagster.yaml

# The demo's cold tier is a real S3 endpoint: a SeaweedFS server started for the run and stopped after.
demo: install dagster-home
	$(BIN)/tickwh cold run -- $(BIN)/tickwh demo $(DEMO_ARGS)

cold-up: install
	$(BIN)/tickwh cold up

cold-down: install
	$(BIN)/tickwh cold down

# Three workers on two cores, one test file each at a time: files share module fixtures (a demo, a lake), never
# ports or homes. The third uses the cores while a file waits (a broker's visibility timeout, a daemon's ticks).
# --no-loadscope-reorder keeps tests/conftest.py's order, the longest files first.
PYTEST_ARGS ?= -n 3 --dist loadfile --no-loadscope-reorder
test: install dagster-home browser prometheus redis
	$(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

# Browser tests drive Debian's Chromium (a tool's own browser download cannot work offline).
# The install takes about 30 s and apt is quiet with -qq: a line every 5 s says it is still going.
browser:
	@test -x /usr/bin/chromium || { \
	  echo "browser: installing Debian's chromium with apt-get (once, about 30 s)"; \
	  ( t=0; while sleep 5; do t=$$((t+5)); echo "browser: still installing chromium ($${t}s)"; done ) & ticker=$$!; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; rc=$$?; \
	  kill $$ticker; test $$rc = 0 && echo "browser: chromium installed" ; exit $$rc; }

# The metrics tests scrape with a real Prometheus and check rules with promtool: Debian's package.
prometheus:
	@test -x /usr/bin/prometheus -a -x /usr/bin/promtool || { \
	  echo "prometheus: installing Debian's prometheus with apt-get (once)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null \
	  && echo "prometheus: installed"; }

# The distributed tests' Celery broker (docs/deploy.md): Debian's redis-server, started by the fixtures.
redis:
	@test -x /usr/bin/redis-server || { \
	  echo "redis: installing Debian's redis-server with apt-get (once)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server >/dev/null \
	  && echo "redis: installed"; }

catchup: install dagster-home
	$(BIN)/tickwh catchup $(CATCHUP_ARGS)

# The webserver and the daemon over one code server (`dagster dev` is superseded; see tickwh/ui.py).
ui: install dagster-home
	$(BIN)/tickwh ui

docs: install
	$(BIN)/tickwh docs

docs-serve: docs
	$(BIN)/python -m http.server $(DOCS_PORT) --bind 127.0.0.1 --directory $(TICKWH_HOME)/docs

lint: install
	$(BIN)/ruff check ingest orchestration tickwh tests bench

bench: install
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(TICKWH_HOME) dbt_project/target dbt_project/logs
