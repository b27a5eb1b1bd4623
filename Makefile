# Log Sentinel developer commands. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
WEB_STAMP := web/node_modules/.installed
WEB_PACKAGED := src/logsentinel/api/web
DEVSTACK := PYTHONPATH=tools $(BIN)/python -m devstack

.PHONY: help install web web-test dashboard screenshots lint test test-unit test-hostile crds check-generated demo up down env images chart-test chart-demo clean bench-pod-start bench-chain chaos kind-up kind-load kind-chaos bench-processor bench-storage bench-parsing bench-instructions bench-templates bench-detect-latency bench-detection-quality bench-backtest bench-remediation-latency bench-compose-remediation bench-ingest bench-web compose-up compose-down

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

install: $(STAMP) ## Create .venv and install the project with its dev tools (idempotent)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

$(WEB_STAMP): web/package-lock.json
	cd web && npm ci --no-audit --no-fund
	@touch $(WEB_STAMP)

WEB_SOURCES := $(shell find web/src web/index.html web/vite.config.ts web/tsconfig.json -type f 2>/dev/null)

$(WEB_PACKAGED)/index.html: $(WEB_STAMP) $(WEB_SOURCES)
	cd web && npm run build
	rm -rf $(WEB_PACKAGED)
	cp -r web/dist $(WEB_PACKAGED)

web: $(WEB_PACKAGED)/index.html ## Build the dashboard (web/, Node.js 20.19+) into the package the API serves at /

web-test: $(WEB_STAMP) ## The dashboard's unit tests (Vitest)
	cd web && npm test

screenshots: install web ## The browser tests, saving each dashboard page to docs/screenshots
	$(DEVSTACK) up
	LOGSENTINEL_SCREENSHOTS=docs/screenshots $(BIN)/pytest tests/browser

lint: install ## ruff, mypy --strict on src, import-linter layering contracts
	$(BIN)/ruff check src tests tools bench hatch_build.py
	$(BIN)/ruff format --check src tests tools bench hatch_build.py
	$(BIN)/mypy src hatch_build.py
	$(BIN)/lint-imports

test: install web ## Run the dashboard's, unit, integration, e2e and real-node tests (they start the local stack)
	$(MAKE) --no-print-directory web-test
	$(DEVSTACK) build
	$(BIN)/pytest

test-hostile: install ## Only the hostile suite (tests/hostile; also part of `make test`); prints a RESULT line
	$(DEVSTACK) build
	$(BIN)/pytest tests/hostile

test-unit: install ## Run only the fast unit tests (no servers)
	$(BIN)/pytest tests/unit

crds: install ## Generate crds/*.yaml and the chart's copy from the domain models; copy the default rule pack into the chart
	$(BIN)/logsentinel crds --output crds
	$(BIN)/logsentinel crds --output charts/logsentinel/crds
	rm -f charts/logsentinel/files/default-rules/*.yaml
	cp rules/default/*.yaml charts/logsentinel/files/default-rules/

check-generated: install ## Fail when crds/ or the chart's copy is stale
	$(BIN)/logsentinel crds --output crds --check
	$(BIN)/logsentinel crds --output charts/logsentinel/crds --check

demo: install web ## The main job: stack up, CRDs and examples applied, sample logs processed
	PYTHONPATH=tools $(BIN)/python -m demo

dashboard: install web ## The API with the dashboard on http://127.0.0.1:8000 against the local stack (prints the admin's password); Ctrl-C stops it
	PYTHONPATH=tools $(BIN)/python -m dashboard

up: install web ## Start the local stack (PostgreSQL, Kafka, Kubernetes control plane)
	$(DEVSTACK) up

down: install ## Stop the local stack
	$(DEVSTACK) down

images: install web ## Build the container images (product, pause, otelcol agent, sample app) with Buildah
	$(DEVSTACK) images

chart-test: install web ## Helm chart: lint, render, server dry run, then install/test/upgrade/uninstall on the real node; prints RESULT helm_install_ready_s
	$(DEVSTACK) up
	$(BIN)/pytest tests/e2e/test_chart.py tests/node/test_chart_install.py

chart-demo: install web ## Install the Helm chart on the local stack (release logsentinel; its operator watches logsentinel-system)
	$(DEVSTACK) up
	eval "$$($(DEVSTACK) env)" && $$LOGSENTINEL_HELM upgrade --install logsentinel charts/logsentinel \
	  --namespace logsentinel-system --create-namespace \
	  --set image.repository=localhost/logsentinel \
	  --set database.url="$$LOGSENTINEL_POD_DATABASE_URL" \
	  --set-json kafka.bootstrapServers="[\"$$LOGSENTINEL_POD_KAFKA_BOOTSTRAP\"]" \
	  --set-json 'operator.watchNamespaces=["logsentinel-system"]' && \
	for deployment in operator api; do \
	  $$LOGSENTINEL_KUBECTL -n logsentinel-system rollout status deployment/logsentinel-$$deployment --timeout=5m || exit 1; \
	done

env: install ## Print shell exports for the running local stack: eval "$$(make -s env)"
	@$(DEVSTACK) env

bench-processor: install ## Processor throughput (compiled, as shipped), with rules, two processors, vs bare consume+COPY of the same rows (starts Kafka, PostgreSQL)
	$(DEVSTACK) up postgres kafka
	compiled="$$($(DEVSTACK) compiled)" && eval "$$($(DEVSTACK) env postgres kafka)" && \
	  PYTHONPATH="$$compiled" $(BIN)/python bench/bench_processor.py

bench-storage: install ## COPY of the same normalised rows with the full-text index's settings varied, pending-list merge included (starts PostgreSQL)
	$(DEVSTACK) up postgres
	compiled="$$($(DEVSTACK) compiled)" && eval "$$($(DEVSTACK) env postgres)" && \
	  PYTHONPATH="$$compiled" $(BIN)/python bench/bench_storage.py

bench-detect-latency: install ## Record produced -> Incident readable from the apiserver (starts the stack)
	$(DEVSTACK) up
	eval "$$($(DEVSTACK) env)" && $(BIN)/python bench/bench_detect_latency.py

bench-remediation-latency: install ## Incident created -> restart patch accepted, 50 Deployments (starts the stack)
	$(DEVSTACK) up
	eval "$$($(DEVSTACK) env)" && $(BIN)/python bench/bench_remediation_latency.py

bench-compose-remediation: install ## Incident stored -> the Docker engine accepts the remediator's restart, 30 Compose services (starts PostgreSQL and Podman's Docker API)
	$(DEVSTACK) up postgres
	eval "$$($(DEVSTACK) env postgres)" && $(BIN)/python bench/bench_compose_remediation.py

bench-ingest: install ## API ingest throughput, one uvicorn worker -> local Kafka, wrk on loopback (starts Kafka, PostgreSQL)
	$(DEVSTACK) up postgres kafka
	eval "$$($(DEVSTACK) env postgres kafka)" && $(BIN)/python bench/bench_ingest.py

bench-web: install web ## The dashboard's overview opened 10 times with a cold cache (Chromium, loopback): first paint, charts drawn, gzipped JS (starts PostgreSQL)
	$(DEVSTACK) up postgres
	eval "$$($(DEVSTACK) env postgres)" && $(BIN)/python bench/bench_web.py

chaos: install web ## The chaos suite on the real node (faults during the whole chain; every line accounted for); prints RESULT chaos_scenarios lost duplicated double_actions
	$(DEVSTACK) up
	$(BIN)/pytest tests/chaos

KIND ?= kind
KIND_CLUSTER ?= logsentinel
KIND_KUBECONFIG ?= $(CURDIR)/.stack/kind/kubeconfig
# The kind Docker network's IPv4 gateway with its prefix, e.g. 172.18.0.1/16: where pods of the
# Kind cluster reach this host's PostgreSQL and Kafka.
KIND_POD_HOST = $$(docker network inspect kind --format '{{range .IPAM.Config}}{{.Gateway}} {{.Subnet}};{{end}}' | awk -v RS=';' '$$1 ~ /^[0-9.]+$$/ {split($$2, p, "/"); print $$1 "/" p[2]; exit}')

kind-up: ## (machines with Docker) Create the Kind cluster of kind/cluster.yaml for the chaos suite
	$(KIND) create cluster --name $(KIND_CLUSTER) --config kind/cluster.yaml --wait 120s
	mkdir -p $(dir $(KIND_KUBECONFIG))
	$(KIND) get kubeconfig --name $(KIND_CLUSTER) > $(KIND_KUBECONFIG)

kind-load: install ## (machines with Docker) Build the images and load them into the Kind cluster
	for archive in $$($(DEVSTACK) archives logsentinel otelcol sample-app); do \
		$(KIND) load image-archive "$$archive" --name $(KIND_CLUSTER) || exit 1; \
	done

kind-chaos: install ## (machines with Docker) The chaos suite on the Kind cluster (after kind-up, kind-load; PostgreSQL and Kafka must be started by this target)
	export LOGSENTINEL_POD_HOST="$(KIND_POD_HOST)" && \
	$(DEVSTACK) up postgres kafka && eval "$$($(DEVSTACK) env postgres kafka)" && \
	KUBECONFIG=$(KIND_KUBECONFIG) LOGSENTINEL_REAL_NODE=$(KIND_CLUSTER)-worker $(BIN)/pytest tests/chaos

bench-chain: install ## The whole chain on real pods (sample app -> collector -> Kafka -> processors -> Incident -> rollback -> Resolved), 3 runs; prints RESULT chain_detect_s chain_resolve_s chain_lost chain_duplicated
	$(DEVSTACK) up
	$(BIN)/python bench/bench_chain.py

bench-pod-start: install ## `helm install` (operator only) -> operator pod Ready on the real node, and the image size (starts the stack)
	$(DEVSTACK) up
	eval "$$($(DEVSTACK) env)" && $(BIN)/python bench/bench_pod_start.py

bench-detection-quality: install ## Precision, recall and delay per detector on simulated traffic with faults
	$(BIN)/python bench/bench_detection_quality.py

bench-backtest: install ## Backtest throughput over 500k stored records; prints RESULT backtest_range_records_per_s backtest_read_records_per_s backtest_pack_range_records_per_s
	$(DEVSTACK) up postgres
	eval "$$($(DEVSTACK) env postgres)" && $(BIN)/python bench/bench_backtest.py

bench-parsing: install ## Decode + template cost per record: pure Python, then compiled with mypyc as the wheel and image ship it
	$(BIN)/python bench/bench_parsing.py
	compiled="$$($(DEVSTACK) compiled)" && PYTHONPATH="$$compiled" $(BIN)/python bench/bench_parsing.py

bench-instructions: install ## Instructions per record for decoding and the default rules, compiled, under callgrind (needs valgrind)
	compiled="$$($(DEVSTACK) compiled)" && PYTHONPATH="$$compiled" $(BIN)/python bench/bench_instructions.py

bench-templates: install ## Template grouping accuracy on Loghub-2k (stored ids) and miner throughput
	$(BIN)/python bench/bench_templates.py

clean: ## Remove the virtualenv and caches inside the repository
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .import_linter_cache

compose-up: install web ## Docker Compose mode (docker-compose.yml): Docker's engine, or Podman's Docker API started here with images built from the checkout; waits until healthy, then prints the dashboard's address and sign-in
	$(DEVSTACK) compose up

compose-down: install ## Stop the Compose project (volumes kept; `python -m devstack compose purge` removes them) and Podman's Docker API when started here
	$(DEVSTACK) compose down
