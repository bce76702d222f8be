# backseal: `make demo` runs the main job, `make test` runs the tests.
GO        ?= go
# go.mod names the toolchain (a patch release with the standard library's
# security fixes); let the go command fetch it from the module proxy.
export GOTOOLCHAIN := auto
BIN       ?= bin/backseal
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
FUZZTIME  ?= 3s
PKGS      := ./...

.PHONY: all build test vet fmt-check unit fuzz promtool-test demo bench lint docker clean chaos vulncheck

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) .

test: fmt-check vet unit fuzz promtool-test

fmt-check:
	@bad=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$bad" ]; then echo "gofmt would change:"; echo "$$bad"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

unit:
	$(GO) test -race -count=1 $(PKGS)
	# The race detector slows streaming tenfold and hides the heap; the bounded-memory proof runs without it.
	$(GO) test -count=1 -run 'TestSlowClientBoundedMemory' ./proxy

# A short run of every native fuzzer in the tree (seeds plus FUZZTIME of new inputs).
# On a loaded machine the fuzz engine itself sometimes ends a run with "context deadline
# exceeded" and no failing input (a fast target; the engine's own worker timeout): that
# run, and only that, is repeated once. A real failure writes its input and fails.
fuzz:
	@set -e; for pkg in $$($(GO) list $(PKGS)); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "fuzz $$pkg $$f ($(FUZZTIME))"; \
	    $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg > /tmp/backseal-fuzz.log 2>&1 || \
	    { grep -q 'context deadline exceeded' /tmp/backseal-fuzz.log && ! grep -q 'Failing input' /tmp/backseal-fuzz.log && \
	      echo "  (the fuzz engine missed its own deadline, no failing input: once more)" && \
	      $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg > /tmp/backseal-fuzz.log 2>&1; } || \
	    { cat /tmp/backseal-fuzz.log; exit 1; }; \
	  done; \
	done

# The Prometheus rules in configs/prometheus/, checked and unit-tested by Prometheus's
# own promtool (Debian: apt-get install prometheus). Without promtool it skips, unless
# CI is set (then it fails: .ci/run installs it).
PROMTOOL ?= promtool
promtool-test:
	@if ! command -v $(PROMTOOL) >/dev/null; then \
	  case "$${CI:-}" in \
	    ""|false|0) echo "promtool-test: skipped, no $(PROMTOOL) (apt-get install prometheus; with CI=true this fails)";; \
	    *) echo "promtool-test: $(PROMTOOL) is not installed, and CI=$$CI: .ci/run must install prometheus"; exit 1;; \
	  esac; \
	else \
	  set -ex; \
	  $(PROMTOOL) check rules configs/prometheus/backseal.rules.yml; \
	  $(PROMTOOL) check config configs/prometheus/prometheus.yml; \
	  $(PROMTOOL) test rules configs/prometheus/tests/*.yml; \
	fi

# The chaos test at length (make test runs it for 3 s, longer until it has seen a heal and a reported failure): CHAOS=60s by default.
CHAOS ?= 60s
chaos:
	BACKSEAL_CHAOS_DURATION=$(CHAOS) BACKSEAL_CHAOS_REPORT=$(CURDIR)/chaos-report.json \
	  $(GO) test -count=1 -timeout 30m -run '^TestChaos$$' -v ./proxy | grep -v '^=== '

demo: build
	./$(BIN) demo

# End-to-end harness (bench/): simulator, backseal passthrough and framed, nginx and
# HAProxy, interleaved; rewrites the e2e section of docs/BENCHMARKS.md and
# the chart docs/bench-throughput.svg. Quick run that writes no docs:
#   make bench BENCHFLAGS='-size 256MiB -rounds 3 -out= -chart='
BENCHFLAGS ?=
bench: build
	$(GO) run ./bench/cmd/e2ebench -backseal $(BIN) $(BENCHFLAGS)

# Go micro-benchmarks of every package.
.PHONY: bench-go
bench-go:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

# govulncheck, with its database built from the module proxy (scripts/govulncheck.sh).
vulncheck:
	scripts/govulncheck.sh

lint: fmt-check vet
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 $(PKGS)

# The image (Dockerfile). Without Docker, `make build` makes the same static binary, and
# internal/deploytest runs the Dockerfile's build line, entrypoint and health check.
docker:
	@command -v docker >/dev/null || { echo "make docker: no docker on this machine; make build makes the same static binary"; exit 1; }
	docker build --build-arg VERSION=$(VERSION) -t backseal:$(VERSION) .

clean:
	rm -rf bin

# Tracing demo, outside make test: Jaeger all-in-one (built once from the Go
# module proxy into bin/), the simulator with faults and the sidecar exporting
# OTLP to it; checks the traces through Jaeger's query API (docs/TELEMETRY.md).
# Screenshot: make tracing-demo TRACING_DEMO_FLAGS='-screenshot docs/tracing-trace.png'
.PHONY: tracing-demo
tracing-demo: build
	$(GO) run ./cmd/tracing-demo -backseal $(BIN) $(TRACING_DEMO_FLAGS)
