# redlease — make targets. `make test` is what CI runs (.ci/run).
GO       ?= go
SHELL    := /bin/bash
# The temporal CLI is built from the Go module proxy into the Go bin
# directory, once; later versions cannot be go-installed.
TEMPORAL_VERSION := v1.5.1
GOBIN_DIR := $(shell d=$$($(GO) env GOBIN); [ -n "$$d" ] && echo $$d || echo $$($(GO) env GOPATH)/bin)

.PHONY: demo test deps temporal-cli vet fmt-check unit chaos

## demo: a local stack (Temporal dev server + UI, 6 redis-server nodes, 2 workers), 3 jobs, a crash, a summary
demo: deps temporal-cli
	$(GO) run ./internal/demo $(DEMO_FLAGS)

## test: install missing dependencies, then gofmt check, go vet and go test -race;
## the fault suite's bounded profile runs last, alone, so its processes have the machine
test: deps temporal-cli fmt-check vet
	$(GO) test -race -count=1 -timeout 20m $$($(GO) list ./... | grep -v '/internal/chaos$$')
	$(GO) test -race -count=1 -timeout 15m ./internal/chaos

## unit: go test without the dependency step (redis-server must be installed)
unit:
	$(GO) test -race -count=1 ./...

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

## temporal-cli: go install the temporal CLI unless one is found (about 4 minutes)
temporal-cli:
	@if [ -n "$$TEMPORAL_CLI" ] || command -v temporal >/dev/null 2>&1 || [ -x "$(GOBIN_DIR)/temporal" ]; then :; else \
	  echo "building the temporal CLI $(TEMPORAL_VERSION) into $(GOBIN_DIR) (about 4 minutes, once)"; \
	  GOBIN="$(GOBIN_DIR)" $(GO) install github.com/temporalio/cli/cmd/temporal@$(TEMPORAL_VERSION); \
	fi

## deps: redis-server from Debian's packages when it is missing
deps:
	@if ! command -v redis-server >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing redis-server (apt-get)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server; \
	  else \
	    echo "redis-server is missing: run 'sudo apt-get install redis-server' (Debian/Ubuntu)"; exit 1; \
	  fi; \
	fi

## bench: redlease vs redsync on local redis-server nodes (about a minute); see BENCHMARKS.md
.PHONY: bench
bench: deps
	$(GO) run ./bench

## chaos: the fault suite's long profile, about 30 minutes (see RELIABILITY.md);
## CHAOS_FLAGS="-seed N" replays a run, "-rounds 1" shortens it, "-break guard" runs a broken build
chaos: deps
	$(GO) run ./internal/chaos/cmd/chaos -profile long $(CHAOS_FLAGS)
