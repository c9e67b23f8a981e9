# otelcol-erviz: `make run` builds and starts the collector on the local pipeline;
# `make test` runs every test (installing what the integration tests need).
SHELL        := /bin/bash
.DEFAULT_GOAL := build

GO           ?= go
ROOT         := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
BIN          := $(ROOT)/bin
DIST         := $(ROOT)/dist
BUILDDIR     := $(ROOT)/build
OCB_VERSION  := v0.161.0
NFPM_VERSION := v2.43.0
STATICCHECK_VERSION := v0.7.0
OCB          := $(BIN)/builder-$(OCB_VERSION)
NFPM         := $(BIN)/nfpm-$(NFPM_VERSION)
STATICCHECK  := $(BIN)/staticcheck-$(STATICCHECK_VERSION)
# mdatagen is pinned in tools/go.mod (v0.158.0: later versions need a module the proxy refuses).
MDATAGEN     := $(BIN)/mdatagen-v0.158.0
# Version from git: the nearest tag, else 0.0.0-<commit>; "-dirty" marks local changes.
VERSION      ?= $(shell v=$$(git -C $(ROOT) describe --tags --match 'v*' --dirty 2>/dev/null) && echo $${v#v} || \
                  (c=$$(git -C $(ROOT) rev-parse --short HEAD 2>/dev/null) && echo 0.0.0-$$c$$(git -C $(ROOT) diff --quiet HEAD 2>/dev/null || echo -dirty)) || echo 0.0.0-dev)
COLLECTOR    := $(BIN)/otelcol-erviz
FUZZTIME     ?= 20s
export CGO_ENABLED ?= 0

.PHONY: build generate run demo erviz test unit integration deps lint bench fuzz package clean tools version metadata cross

version:
	@echo $(VERSION)

$(OCB):
	@mkdir -p $(BIN)
	GOBIN=$(BIN) $(GO) install go.opentelemetry.io/collector/cmd/builder@$(OCB_VERSION)
	mv $(BIN)/builder $@

$(NFPM):
	@mkdir -p $(BIN)
	GOBIN=$(BIN) $(GO) install github.com/goreleaser/nfpm/v2/cmd/nfpm@$(NFPM_VERSION)
	mv $(BIN)/nfpm $@

$(STATICCHECK):
	@mkdir -p $(BIN)
	GOBIN=$(BIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	mv $(BIN)/staticcheck $@

$(MDATAGEN): $(ROOT)/tools/go.mod
	@mkdir -p $(BIN)
	cd $(ROOT)/tools && $(GO) build -o $@ go.opentelemetry.io/collector/cmd/mdatagen

tools: $(OCB) $(NFPM) $(STATICCHECK) $(MDATAGEN)

# Regenerate every component's internal/metadata, documentation.md and generated tests.
metadata: $(MDATAGEN)
	cd $(ROOT) && for m in $$(git ls-files '*metadata.yaml'); do (cd $$(dirname $$m) && $(MDATAGEN) metadata.yaml) || exit 1; done

# Generate the distribution's sources (cmd/otelcol-erviz, not committed) with the version stamped in.
generate: $(OCB)
	@mkdir -p $(BUILDDIR) $(ROOT)/cmd/otelcol-erviz
	sed -e 's/^  version: .*/  version: $(VERSION)/' $(ROOT)/builder-config.yaml > $(BUILDDIR)/builder-config.yaml
	cd $(ROOT) && $(OCB) --config $(BUILDDIR)/builder-config.yaml --skip-compilation

build: generate
	cd $(ROOT)/cmd/otelcol-erviz && $(GO) build -trimpath -ldflags '-s -w' -o $(COLLECTOR) .
	@$(COLLECTOR) --version

run: build
	@mkdir -p $(ROOT)/data/out $(ROOT)/data/state
	@echo
	@echo "otelcol-erviz $(VERSION) on config/local.yaml"
	@echo "  send IPFIX/NFv9 to udp 127.0.0.1:4739 (e.g. softflowd -n 127.0.0.1:4739 -v 10)"
	@echo "  send OTLP to       grpc 127.0.0.1:4317, http://127.0.0.1:4318"
	@echo "  output (OTLP JSON) $(ROOT)/data/out/"
	@echo "  Prometheus metrics http://127.0.0.1:8889/metrics"
	@echo "  health check       http://127.0.0.1:13133/"
	@echo
	cd $(ROOT) && exec $(COLLECTOR) --config config/local.yaml

# Compiles the distribution and the erviz command for every platform CI supports (output
# discarded); one platform at a time, on the shared build cache. All platforms are tried, then
# the target fails if any did.
CROSS_PLATFORMS ?= linux/amd64 linux/arm64 darwin/arm64 windows/amd64
cross: generate
	@failed=""; for p in $(CROSS_PLATFORMS); do \
	  echo "cross: $$p"; \
	  (cd $(ROOT)/cmd/otelcol-erviz && GOOS=$${p%/*} GOARCH=$${p#*/} $(GO) build -trimpath -o /dev/null .) && \
	  (cd $(ROOT) && GOOS=$${p%/*} GOARCH=$${p#*/} $(GO) build -trimpath -o /dev/null ./cmd/erviz) || failed="$$failed $$p"; \
	done; test -z "$$failed" || (echo "cross: failed on$$failed"; exit 1)

# The companion command: `erviz report` on the file exporter's output, `erviz replay` of captures.
erviz:
	cd $(ROOT) && $(GO) build -trimpath -o $(BIN)/erviz ./cmd/erviz

# Starts the collector on config/demo.yaml, feeds it the bundled data of demo/ and prints
# the report (scripts/demo.sh).
demo: build erviz
	$(ROOT)/scripts/demo.sh

# Everything the integration tests need, from Debian's packages and npm.
deps:
	$(ROOT)/scripts/install-test-deps.sh

unit:
	cd $(ROOT) && $(GO) test -count=1 ./...

# Unit and integration tests. Integration tests run the built collector and the .deb;
# under CI=true a missing dependency fails instead of skipping.
test: deps build erviz package
	cd $(ROOT) && OTELCOL_ERVIZ_BIN=$(COLLECTOR) ERVIZ_BIN=$(BIN)/erviz OTELCOL_ERVIZ_DEB=$$(ls -t $(DIST)/*.deb | head -1) \
	  $(GO) test -count=1 -timeout 20m ./...
	# The side-by-side benchmarks' own checks (both decoders see the same records).
	cd $(ROOT)/bench && GOFLAGS=-mod=mod $(GO) test -count=1 ./...

lint: $(STATICCHECK) metadata
	@cd $(ROOT) && git diff --quiet -- ':(glob)**/internal/metadata/**' ':(glob)**/internal/metadatatest/**' \
	  ':(glob)**/documentation.md' ':(glob)**/generated_*' || \
	  (git diff --stat; echo "generated component metadata is out of date: run make metadata and commit"; exit 1)
	cd $(ROOT) && $(GO) vet ./...
	cd $(ROOT) && $(STATICCHECK) ./...
	cd $(ROOT) && test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1)

bench:
	$(ROOT)/bench/run.sh

# A short run of every fuzz target (FUZZTIME each).
fuzz:
	$(ROOT)/scripts/fuzz-all.sh $(FUZZTIME)

package: build $(NFPM)
	@mkdir -p $(DIST)
	cd $(ROOT) && VERSION=$(VERSION) ARCH=$$($(GO) env GOARCH) $(NFPM) package --config deploy/nfpm.yaml --packager deb --target $(DIST)/

clean:
	rm -rf $(BUILDDIR) $(DIST) $(COLLECTOR) $(ROOT)/cmd/otelcol-erviz/*.go $(ROOT)/cmd/otelcol-erviz/go.*
