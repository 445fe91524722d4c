# PayDock: `make run` starts the API (and webhook worker) with demo data; `make test` runs every test.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CHROMIUM := /usr/bin/chromium
export PAYDOCK_DATABASE_URL ?= sqlite:///paydock.db
# Where `make run` serves (also `make run PAYDOCK_PORT=8001`); `paydock serve` reads them.
export PAYDOCK_HOST ?= 127.0.0.1
export PAYDOCK_PORT ?= 8000

.PHONY: install run test lint bench bench-quick bench-load clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The webhook worker runs in the background beside the API and stops when it stops.
run: $(STAMP)
	$(BIN)/paydock migrate
	$(BIN)/paydock demo
	@echo "PayDock on http://$(PAYDOCK_HOST):$(PAYDOCK_PORT) (Swagger UI: http://$(PAYDOCK_HOST):$(PAYDOCK_PORT)/api/docs), webhook worker beside it"
	@$(BIN)/paydock worker & worker=$$!; \
	trap 'kill $$worker 2>/dev/null; wait $$worker 2>/dev/null' EXIT INT TERM; \
	$(BIN)/paydock serve

test: $(STAMP) $(CHROMIUM)
	$(BIN)/python -m pytest -p no:cacheprovider

# The Swagger UI browser test drives Debian's Chromium; install it when missing (as root).
# Without it that test skips with the reason, except in CI (CI=true), where it fails.
$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing chromium for the browser test"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	        || echo "could not install chromium: the browser test will skip (fail in CI)"; \
	else echo "no $(CHROMIUM): run 'sudo apt-get install chromium' for the browser test"; fi

# Benchmarks (not part of `make test`): PayDock vs a bare baseline, written to bench/RESULTS.md.
bench: $(STAMP)
	$(BIN)/python bench/run.py

bench-quick: $(STAMP)
	$(BIN)/python bench/run.py --quick

# Invoices and payments from 16 clients for 2 minutes on PostgreSQL, then every invariant checked.
bench-load: $(STAMP)
	$(BIN)/python -m bench.load_invariants --seconds 120 --clients 16 --workers 4

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/openapi-spec-validator openapi.yaml
	test -x node_modules/.bin/redocly || npm ci --no-audit --no-fund
	REDOCLY_TELEMETRY=off node_modules/.bin/redocly lint openapi.yaml --config redocly.yaml

clean:
	rm -rf $(VENV) node_modules paydock.db paydock.db-wal paydock.db-shm
