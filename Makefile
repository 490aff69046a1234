# redlease — make targets. `make test` is what CI runs (.ci/run).
GO       ?= go
SHELL    := /bin/bash

.PHONY: test deps vet fmt-check unit

## test: install missing system dependencies, then gofmt check, go vet and go test -race
test: deps fmt-check vet
	$(GO) test -race -count=1 -timeout 15m ./...

## unit: go test without the dependency step (redis-server must be installed)
unit:
	$(GO) test -race -count=1 ./...

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

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
