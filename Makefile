# invoicebus: `make run` starts the whole system, `make test` runs every test.
# Needs Python 3.11+ and a RabbitMQ on localhost (or AMQP_URL); uv is bootstrapped into
# .tools/, the locked environment into .venv/. The TypeScript client (clients/typescript) also
# needs Node.js 20+ and npm: `make sync` installs its locked packages, `make test` runs its tests.

PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
# Use the Python that is here; never download one.
export UV_PYTHON_DOWNLOADS := never
TS_CLIENT := clients/typescript
NPM_SYNCED := $(TS_CLIENT)/node_modules/.synced

.PHONY: run test lint format asyncapi openapi typescript-types bench sync clean

# Running the system needs no Node.js.
run: .venv/.synced
	$(UV) run --frozen invoicebus run

test: sync
	$(UV) run --frozen pytest

lint: sync
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen mypy
	cd $(TS_CLIENT) && npm run --silent typecheck

format: sync
	$(UV) run --frozen ruff format .
	$(UV) run --frozen ruff check --fix .

# Regenerate the committed AsyncAPI document after a contract change.
asyncapi: sync
	$(UV) run --frozen invoicebus asyncapi --yaml -o docs/asyncapi.yaml

# Regenerate the committed OpenAPI document of the HTTP gateway after a contract or route change.
openapi: sync
	$(UV) run --frozen invoicebus openapi -o docs/openapi.json

# Regenerate the TypeScript client's types (src/contract.ts) from the AsyncAPI document.
typescript-types: asyncapi $(NPM_SYNCED)
	cd $(TS_CLIENT) && npm run --silent generate

# The services against hand-written baselines (docs/benchmarks.md); minutes at full size, and
# it rewrites docs/benchmark-results.md and docs/benchmark.png. BENCH_ARGS=--quick: a smoke run.
# Like run, it needs no Node.js.
bench: .venv/.synced
	$(UV) run --frozen python -m benchmarks.run $(BENCH_ARGS)

sync: .venv/.synced $(NPM_SYNCED)

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

.venv/.synced: $(UV) pyproject.toml uv.lock contracts/pyproject.toml clients/python/pyproject.toml
	$(UV) sync --frozen
	@touch $@

$(NPM_SYNCED): $(TS_CLIENT)/package.json $(TS_CLIENT)/package-lock.json
	@command -v npm >/dev/null || { echo "npm not found: install Node.js 20+ and npm" >&2; exit 1; }
	cd $(TS_CLIENT) && npm ci --no-audit --no-fund
	@touch $@

clean:
	rm -rf $(TOOLS) .venv .pytest_cache .mypy_cache .ruff_cache $(TS_CLIENT)/node_modules $(TS_CLIENT)/dist
