# Breakwater: every command a user or CI runs. `make help` lists them.
SHELL := /bin/bash
GO ?= go
TOOLS := $(CURDIR)/.tools/bin
STATICCHECK_VERSION := v0.8.2
BENCHSTAT_VERSION := v0.0.0-20260709024250-82a0b07e230d
# envoyproxy/ratelimit (the global rate limit service the tests run for real)
RATELIMIT_VERSION := v1.4.1-0.20260122083618-3fb702589d36
WASM := dist/breakwater.wasm
IMAGE_TAG ?= v0.1.0
FUZZTIME ?= 60s
TEST_TIMEOUT ?= 40m

.PHONY: help build test check bench perf demo image e2e fuzz tools staticcheck benchstat clean

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

build: ## build dist/breakwater.wasm (standard Go, wasip1, c-shared, through the SDK bridge)
	@scripts/build-wasm.sh $(WASM)

test: build tools ## run every test: patterns, filter (native and .wasm), ABI, real ratelimit service, e2e, deployment files
	@# Both modules run even when the first fails; make fails if either did. TEST_TIMEOUT is
	@# each test binary's budget (go test's default, 10m, is too short for e2e on a busy machine).
	@rc=0; $(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./... || rc=1; \
	(cd envoy && $(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...) || rc=1; \
	if [ $$rc -ne 0 ]; then echo "make test: FAILED (see the FAIL lines above; both modules ran)"; fi; exit $$rc

check: staticcheck ## gofmt, go vet, staticcheck, go mod tidy leaves no diff
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(TOOLS)/staticcheck ./...
	@for d in . bench envoy; do \
	  (cd $$d && cp go.mod /tmp/bw-go.mod && cp go.sum /tmp/bw-go.sum && $(GO) mod tidy && \
	   if ! diff -q go.mod /tmp/bw-go.mod >/dev/null || ! diff -q go.sum /tmp/bw-go.sum >/dev/null; then \
	     echo "go mod tidy changed $$d/go.mod or go.sum"; cp /tmp/bw-go.mod go.mod; cp /tmp/bw-go.sum go.sum; exit 1; fi) || exit 1; \
	done
	cd bench && $(GO) vet ./...
	cd envoy && $(GO) vet ./...

tools: ## install what the tests use, nothing else: redis-server (Debian), envoyproxy/ratelimit (pinned) into .tools/bin
	@command -v redis-server >/dev/null || { echo "installing redis-server"; \
	  (apt-get update -qq && apt-get install -y -qq redis-server) >/dev/null || { echo "apt-get install redis-server failed (are you root?)"; exit 1; }; }
	@mkdir -p $(TOOLS)
	@test -x $(TOOLS)/service_cmd || { echo "installing envoyproxy/ratelimit $(RATELIMIT_VERSION)"; \
	  GOBIN=$(TOOLS) $(GO) install github.com/envoyproxy/ratelimit/src/service_cmd@$(RATELIMIT_VERSION); }

staticcheck: # staticcheck (pinned) into .tools/bin, for make check only
	@mkdir -p $(TOOLS)
	@test -x $(TOOLS)/staticcheck || GOBIN=$(TOOLS) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

benchstat: # benchstat (pinned) into .tools/bin, for make bench only
	@mkdir -p $(TOOLS)
	@test -x $(TOOLS)/benchstat || GOBIN=$(TOOLS) $(GO) install golang.org/x/perf/cmd/benchstat@$(BENCHSTAT_VERSION)

bench: build tools benchstat ## benchmarks, each comparison side by side in one run, summarised with benchstat
	$(GO) test -run '^$$' -bench . -benchmem -count 5 ./patterns/... | tee /tmp/breakwater-bench-patterns.txt
	$(GO) test -run '^$$' -bench BenchmarkRequest -benchmem -benchtime 1000x -count 5 ./filter | tee /tmp/breakwater-bench-request.txt
	$(GO) test -run '^$$' -bench FilterVsNoop -benchtime 20000x -count 3 ./e2e | tee /tmp/breakwater-bench-devhost.txt
	$(GO) test -run '^$$' -bench ThroughputAB -benchtime 5000x ./e2e
	cd bench && $(GO) test -run '^$$' -bench . -benchmem -count 5 ./... | tee /tmp/breakwater-bench-peers.txt
	@for f in patterns request devhost peers; do $(TOOLS)/benchstat /tmp/breakwater-bench-$$f.txt; done

perf: build ## guest work per request, deterministic (instructions, host calls, allocations): noop, floor, each pattern, full; 1 and 4 workers; writes dist/perf.json
	$(GO) run ./cmd/breakwater perf --suite . --requests 1000

fuzz: ## fuzz the config parser for FUZZTIME (default 60s), then every codec and state decoder for a sixth of it
	$(GO) test -run '^$$' -fuzz '^FuzzParseConfig$$' -fuzztime $(FUZZTIME) ./filter/config
	@short=$$(( $$(echo $(FUZZTIME) | tr -dc 0-9) / 6 + 1 ))s; \
	for t in "FuzzPluginStart ./filter" "FuzzRequest ./filter" "FuzzDecodeResponse ./filter/rls" "FuzzEncodeRequest ./filter/rls" "FuzzDecodeSet ./patterns/store" \
	         "FuzzDecide ./patterns/ratelimit" "FuzzDecode ./patterns/breaker" "FuzzDecode ./patterns/bulkhead" \
	         "FuzzDecode ./patterns/retry" "FuzzDecode ./patterns/timeout" "FuzzParseGRPCTimeout ./patterns/timeout" \
	         "FuzzDecode ./patterns/deadletter" "FuzzSanitize ./patterns/deadletter" "FuzzPath ./patterns/normalize" "FuzzPathFast ./patterns/normalize" "FuzzStaleRecord ./filter" "FuzzHeaderIndex ./filter" "FuzzScanWire ./filter"; do \
	  set -- $$t; $(GO) test -run '^$$' -fuzz "^$$1$$" -fuzztime $$short $$2 || exit 1; done

demo: build ## run the demo (see README); its dead letters need redis-server, installed here if missing
	@command -v redis-server >/dev/null || { echo "installing redis-server"; \
	  (apt-get update -qq && apt-get install -y -qq redis-server) >/dev/null || { echo "apt-get install redis-server failed (are you root?)"; exit 1; }; }
	$(GO) run ./cmd/breakwater demo --wasm $(WASM)

image: build ## the OCI image Istio pulls (one layer holding plugin.wasm), without Docker, as an OCI image layout in dist/oci; prints the digest to pin
	cd envoy && $(GO) run ./cmd/wasmimage --wasm ../$(WASM) --out ../dist/oci --tag $(IMAGE_TAG)

e2e: build ## end-to-end tests only: the .wasm in the dev host under real traffic
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./e2e/...

clean: ## remove build output
	rm -rf dist build
