# PayDock: `make run` starts the API with demo data; `make test` runs every test.
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

run: $(STAMP)
	$(BIN)/paydock migrate
	$(BIN)/paydock demo
	@echo "PayDock on http://127.0.0.1:8000 (Swagger UI: http://127.0.0.1:8000/api/docs)"
	$(BIN)/paydock serve

test: $(STAMP)
	$(BIN)/python -m pytest -p no:cacheprovider

# Benchmarks (not part of `make test`): PayDock vs a bare baseline, written to bench/RESULTS.md.
bench: $(STAMP)
	$(BIN)/python bench/run.py

bench-quick: $(STAMP)
	$(BIN)/python bench/run.py --quick

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/openapi-spec-validator openapi.yaml

clean:
	rm -rf $(VENV) paydock.db paydock.db-wal paydock.db-shm
