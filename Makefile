# PayDock: `make run` starts the API (and webhook worker) with demo data; `make test` runs every test.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export PAYDOCK_DATABASE_URL ?= sqlite:///paydock.db

.PHONY: install run test lint bench bench-quick clean

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
	@echo "PayDock on http://127.0.0.1:8000 (Swagger UI: http://127.0.0.1:8000/api/docs), webhook worker beside it"
	@$(BIN)/paydock worker & worker=$$!; \
	trap 'kill $$worker 2>/dev/null; wait $$worker 2>/dev/null' EXIT INT TERM; \
	$(BIN)/paydock serve

test: $(STAMP)
	$(BIN)/python -m pytest -p no:cacheprovider

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/openapi-spec-validator openapi.yaml

clean:
	rm -rf $(VENV) paydock.db paydock.db-wal paydock.db-shm
