# The front door: `make run` starts the whole platform, `make test` runs every check. Both install what is missing.
# `make stop` stops what `make run` started (its data stays for the next run); `make clean` deletes that data.
PY := .venv/bin/python
SOURCES := kernel adapters services clanavi devstack bench tests
# Every service, test run and command starts from compiled byte code (kept in the ignored __pycache__ folders):
# compiling the stack's 1,600 modules again costs each process start seconds of CPU.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: run stop clean test lint format bench install

install:
	@scripts/bootstrap.sh

run: install
	@$(PY) -m devstack run

stop:
	@if [ -x $(PY) ]; then $(PY) -m devstack stop; fi

clean:
	@if [ -x $(PY) ]; then $(PY) -m devstack clean; fi

lint: install
	.venv/bin/ruff check $(SOURCES)
	.venv/bin/ruff format --check $(SOURCES)
	.venv/bin/mypy $(SOURCES)

format: install
	.venv/bin/ruff format $(SOURCES)
	.venv/bin/ruff check --fix $(SOURCES)

# Test files run on TEST_WORKERS processes at once (each with its own PostgreSQL and RabbitMQ), a file's tests
# together on one of them in their order; `make test TEST_WORKERS=0` runs them all in this one process.
TEST_WORKERS ?= 2

test: lint
	@scripts/bootstrap.sh --browser
	$(PY) -m pytest -p no:cacheprovider --durations=25 -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

bench: install
	@$(PY) -m bench.pipeline
	@$(PY) -m bench.adapters
	@$(PY) -m bench.openstack_listing
	@$(PY) -m bench.inventory_sync
	@$(PY) -m bench.gateway
	@$(PY) -m bench.templates
	@$(PY) -m bench.placement
	@$(PY) -m bench.script_runs
	@$(PY) -m bench.clusters
	@$(PY) -m bench.scaling
	@$(PY) -m bench.scale_out
	@$(PY) -m bench.failover
	@$(PY) -m bench.billing
	@$(PY) -m bench.alerts
	@$(PY) -m bench.audit
