# invoicebus: `make run` starts the whole system, `make test` runs every test.
# Needs only Python 3.11+ and a RabbitMQ on localhost (or AMQP_URL); uv is bootstrapped into
# .tools/, the locked environment into .venv/.

PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
# Use the Python that is here; never download one.
export UV_PYTHON_DOWNLOADS := never

.PHONY: run test lint format asyncapi sync clean

run: sync
	$(UV) run --frozen invoicebus run

test: sync
	$(UV) run --frozen pytest

lint: sync
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen mypy

format: sync
	$(UV) run --frozen ruff format .
	$(UV) run --frozen ruff check --fix .

# Regenerate the committed AsyncAPI document after a contract change.
asyncapi: sync
	$(UV) run --frozen invoicebus asyncapi --yaml -o docs/asyncapi.yaml

sync: .venv/.synced

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

.venv/.synced: $(UV) pyproject.toml uv.lock contracts/pyproject.toml
	$(UV) sync --frozen
	@touch $@

clean:
	rm -rf $(TOOLS) .venv .pytest_cache .mypy_cache .ruff_cache
