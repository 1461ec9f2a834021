# HITL gate developer commands. `make help` lists them.
SHELL := /bin/bash
UV ?= uv
PYTEST := $(UV) run --locked pytest
# Where deploy/local/deps.sh puts uv (pip --user) and helm (go install), so every target finds
# them without the user editing PATH.
GO := $(shell command -v go 2>/dev/null || ls /usr/local/go/bin/go 2>/dev/null)
export PATH := $(if $(GO),$(shell $(GO) env GOPATH)/bin:)$(HOME)/.local/bin:$(PATH)

.DEFAULT_GOAL := help
.PHONY: help setup deps kafka-up kafka-down kafka-status topics schemas test test-unit test-integration lint fmt clean bench bench-routing bench-learning bench-fuzz bench-scorer fit-prior demo helm chaos soak compose-keys

help: ## list the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

setup: ## install every package and tool into .venv (uv, one lockfile)
	@command -v $(UV) >/dev/null || python3 -m pip install --quiet 'uv>=0.5'
	$(UV) sync --locked --all-packages

kafka-up: ## start the local Kafka broker (KRaft, 127.0.0.1:9092) from Maven Central jars
	deploy/local/kafka.sh start

kafka-down: ## stop the local Kafka broker
	deploy/local/kafka.sh stop

kafka-status: ## is the local broker running?
	deploy/local/kafka.sh status

topics: ## create every registered topic on HITL_KAFKA_BOOTSTRAP (idempotent)
	$(UV) run --locked hitl-topics create

schemas: ## regenerate the JSON Schema files in schemas/json
	$(UV) run --locked python -m hitl_schemas.jsonschema write

deps: ## what the suite needs beyond Python packages (Java, Maven, PostgreSQL, promtool, Chromium, helm): installed where it can be, else named
	deploy/local/deps.sh

test: deps setup ## the whole suite: unit and integration (starts the local broker and PostgreSQL if none answers)
	$(PYTEST)

test-unit: ## pure logic only, no broker
	$(PYTEST) tests/unit

test-integration: ## against a real broker (HITL_KAFKA_BOOTSTRAP or the local one)
	$(PYTEST) tests/integration

lint: ## ruff and mypy strict, check only
	$(UV) run --locked ruff check .
	$(UV) run --locked ruff format --check .
	$(UV) run --locked mypy
	$(UV) run --locked python -m hitl_schemas.jsonschema check

fmt: ## format and fix what ruff can
	$(UV) run --locked ruff format .
	$(UV) run --locked ruff check --fix .

helm: ## Helm chart: refresh its copied files, lint, render (default and production values), validate offline
	deploy/helm/sync-files.sh
	$(PYTEST) -q tests/integration/test_deploy_manifests.py tests/integration/test_chart_kafka_users.py

compose-keys: ## signing keys for docker-compose.yml, once (.local/compose-keys/; kept if present)
	deploy/docker/compose-keys.sh

clean: ## stop the broker and remove local state (.local/)
	-deploy/local/kafka.sh stop
	rm -rf .local

demo: ## everything running, live: broker, the four services, simulator, reviewer bots, dashboard
	@command -v $(UV) >/dev/null || python3 -m pip install --quiet 'uv>=0.5'
	$(UV) sync --locked --all-packages --quiet
	$(UV) run --locked hitl-sim demo $(DEMO_ARGS)

SCENARIOS := steady drift overconfident cold-start

bench: bench-routing bench-learning bench-fuzz bench-scorer ## all benchmarks (~18 min): numbers on stdout, JSON and plots in bench/results/
	deploy/local/kafka.sh start
	$(UV) run --locked python -m bench.pipeline_bench
	$(UV) run --locked python -m bench.scorer_bench
	$(UV) run --locked python -m bench.router_bench
	$(UV) run --locked python -m bench.certificate_validity_bench
	$(UV) run --locked python -m bench.drift_bench
	deploy/local/postgres.sh start
	$(UV) run --locked python -m bench.review_bench
	$(UV) run --locked python -m bench.summary

bench-scorer: ## the scorer on real, human-labelled text from packages (AUC, ECE, clean passed; no broker)
	$(UV) run --locked hitl-bench scorer --json bench/results/scorer_real_text.json \
	  --plot bench/results/scorer_real_text.png

fit-prior: ## refit the scorer's shipped prior (prior-2) from packaged corpora and the simulator
	$(UV) run --locked hitl-bench fit-prior --out services/scorer/src/scorer/prior.json

bench-fuzz: ## worst per-draft scoring time over >= 2,000 adversarial drafts at the input limits (no broker)
	$(UV) run --locked python -m bench.scorer_fuzz_bench --json bench/results/scorer_fuzz.json

chaos: ## the crash suite (~6 min): kill -9 every service, crash the broker, stop the database; audit the topics
	$(UV) run --locked hitl-sim chaos --drafts 6000 --rate 25 --kills 3 --json bench/results/chaos.json

soak: ## sustained load for 10 min: memory must stay flat and lag bounded (figures in bench/results/soak.json)
	$(UV) run --locked hitl-sim soak --duration 600 --rate 100 --json bench/results/soak.json

bench-learning: ## how fast the scorer learns from simulated reviews, per shipped scenario
	for s in $(SCENARIOS); do \
	  $(UV) run --locked hitl-bench learning --scenario bench/scenarios/$$s.yaml --drafts 12000 \
	    --json bench/results/learning-$$s.json || exit 1; \
	done

bench-routing: ## routing quality only: every shipped scenario through hitl-bench routing
	for s in $(SCENARIOS); do \
	  $(UV) run --locked hitl-bench routing --scenario bench/scenarios/$$s.yaml \
	    --json bench/results/routing-$$s.json --plot bench/results/routing-$$s.png || exit 1; \
	done
