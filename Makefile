# Two commands do all set-up on a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV := $(BIN)/uv
export UV_PROJECT_ENVIRONMENT := $(VENV)
export UV_COMPILE_BYTECODE := 1
export CDK_DISABLE_CLI_TELEMETRY := true
export JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION := 1
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
PYTEST := $(BIN)/python -m pytest -p no:cacheprovider

.PHONY: help install run test lint typecheck imports schemas schemas-check synth bench bench-cost bench-cost-billing bench-smart-charging bench-pricing deploy fmt layer clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml uv.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	test -x $(UV) || $(BIN)/pip install --quiet --disable-pip-version-check "uv==0.13.9"
	$(UV) sync --frozen --all-extras --quiet
	touch $@

install: $(VENV)/.installed ## create .venv and install the locked dependencies

cdk.out/CsmsStack.template.json: $(VENV)/.installed $(shell find infra -name '*.py' -o -name '*.js') cdk.json
	PYTHONPATH=infra $(BIN)/python -m csms_infra.synth --outdir cdk.out >/dev/null

synth: cdk.out/CsmsStack.template.json ## synthesize the CDK template offline (no AWS account needed)

run: synth ## start the embedded default on 127.0.0.1 (Ctrl-C stops it)
	$(BIN)/csms local $(ARGS)

fmt: install ## format and fix what ruff can
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

lint: install
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

typecheck: install
	$(BIN)/mypy

imports: install
	PYTHONPATH=infra $(BIN)/lint-imports

schemas: install ## regenerate schemas/ (OpenAPI document, event schemas)
	$(BIN)/python scripts/generate_schemas.py

schemas-check: install
	$(BIN)/python scripts/generate_schemas.py --check

test: install synth ## every check: format, lint, types, import rules, schema drift, all tests with coverage
	$(MAKE) --no-print-directory lint typecheck imports schemas-check
	$(PYTEST) --cov --cov-report=term-missing:skip-covered -n 2 tests

bench: synth ## DynamoDB reads/writes, handler CPU time and cold import time per message type; the cost model
	$(BIN)/python bench/messages.py
	$(MAKE) --no-print-directory bench-cost

bench-cost: synth ## $ per station-month: a month of the public-L2 profile through the handlers, priced
	PYTHONPATH=bench $(BIN)/python -m cost $(ARGS)
	PYTHONPATH=bench $(BIN)/python -m cost.billing_run

bench-cost-billing: synth ## $ per billed session: the billing workflow's handlers on moto, Step Functions, priced
	PYTHONPATH=bench $(BIN)/python -m cost.billing_run $(ARGS)

CALTECH ?= ../shared/data/acn_caltech_2019-03_events.json.gz
SCENARIOS := bench/scenarios
bench-smart-charging: install ## the load-management engine vs baselines and the LP optimum (Caltech, workplace, depot)
	$(BIN)/python -m csms_bench.caltech $(CALTECH) $(SCENARIOS)/caltech-2019-03-20kw.json --limit-kw 20
	$(BIN)/python -m csms_bench.generate workplace $(SCENARIOS)/workplace.json
	$(BIN)/python -m csms_bench.generate depot $(SCENARIOS)/depot.json
	$(BIN)/python -m csms_bench.report $(SCENARIOS)/caltech-2019-03-20kw.json \
		$(SCENARIOS)/workplace.json $(SCENARIOS)/depot.json \
		--results bench/smart_charging_results.json --doc docs/smart-charging.md $(ARGS)

bench-pricing: install ## price 100,000 generated sessions under the five example tariffs: sessions/s, ms per session
	$(BIN)/python -m csms_bench.pricing --results bench/pricing_results.json --doc docs/pricing.md $(ARGS)

layer: install ## build the dependencies layer for arm64 / python3.12 into layers/build
	$(BIN)/python layers/build.py

deploy: install ## deploy to the AWS account of the current credentials
	npx --yes aws-cdk@2 deploy --require-approval broadening $(ARGS)

clean:
	rm -rf $(VENV) cdk.out .coverage .mypy_cache .ruff_cache layers/build
