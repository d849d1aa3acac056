# durable: make help lists the targets.

GO ?= go

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets.
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_\/-]+:.*## / {printf "  %-8s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: test
test: ## Run every test with the race detector (PostgreSQL tests need DURABLE_TEST_POSTGRES_URL).
	@if [ -z "$$DURABLE_TEST_POSTGRES_URL" ]; then \
		echo "WARNING: DURABLE_TEST_POSTGRES_URL is not set: the PostgreSQL tests will be SKIPPED"; \
		echo "         (e.g. DURABLE_TEST_POSTGRES_URL='postgres://postgres@127.0.0.1:5432/test?sslmode=disable' make test)"; \
	fi
	$(GO) test -race ./...

STATICCHECK_VERSION ?= v0.8.2

.PHONY: lint
lint: ## Run go vet, staticcheck, and fail on files gofmt would change.
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...
	@unformatted="$$(gofmt -l .)"; \
	if [ -n "$$unformatted" ]; then \
		echo "gofmt: these files need formatting (run gofmt -w on them):"; \
		echo "$$unformatted"; \
		exit 1; \
	fi

.PHONY: bench
bench: ## Run the benchmarks (no tests).
	$(GO) test -run '^$$' -bench . -benchmem ./...

.PHONY: ci
ci: ## Run what CI runs: .ci/run (starts PostgreSQL if needed, lint, race tests).
	bash .ci/run

SIM_SEEDS ?= 1000000
SIM_FROM ?= 1

.PHONY: sim
sim: ## Run SIM_SEEDS seeds (1,000,000) of the deterministic simulation from SIM_FROM in parallel; prints the seeds that failed.
	$(GO) run ./internal/sim/simrun -from $(SIM_FROM) -seeds $(SIM_SEEDS)

.PHONY: sim-regress
sim-regress: ## Keep a failing simulation seed as a regression test: make sim-regress SEED=n.
	@if [ -z "$(SEED)" ]; then echo "usage: make sim-regress SEED=n"; exit 2; fi
	$(GO) run ./internal/sim/simrun -regress $(SEED)
