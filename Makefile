# Build, test and demo targets. VERSION and COMMIT are stamped into both
# binaries: make build VERSION=1.2.3
VERSION ?= 0.0.0-dev
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
PKG     := github.com/tenement/ten/version
LDFLAGS := -s -w -X $(PKG).Version=$(VERSION) -X $(PKG).Commit=$(COMMIT)
GO      ?= go
export CGO_ENABLED ?= 0

TARGETS ?= all

.PHONY: build test test-deps lint bench demo release-local man clean

build:
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/ten ./cmd/ten
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/ten-upgrade ./cmd/ten-upgrade

# test installs what the integration tests need (Caddy, nginx) when missing,
# then runs the linters and the whole suite with the race detector.
test: test-deps lint
	CGO_ENABLED=1 $(GO) test -race -count=1 -timeout 20m ./...

test-deps:
	@scripts/install-test-deps

lint:
	@out=$$(gofmt -l . 2>&1); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	CGO_ENABLED=0 $(GO) build ./...

# bench runs the Go benchmarks, then the upgrade benchmark (cmd/ten-bench,
# docs/BENCHMARKS.md): every strategy under constant load, BENCH_RUNS times,
# table on stdout, results.json and upgrade.png in BENCH_OUT. It fails when
# handoff, proxy or rollback drops a request. BENCH_FLAGS=-short for CI.
BENCH_RUNS  ?= 3
BENCH_OUT   ?= bin/bench
BENCH_FLAGS ?=
.PHONY: go-bench upgrade-bench soak
bench: go-bench upgrade-bench

go-bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

upgrade-bench:
	$(GO) run ./cmd/ten-bench -runs $(BENCH_RUNS) -out $(BENCH_OUT) $(BENCH_FLAGS)

# soak: SOAK_N upgrade/rollback cycles (A -> B -> A) under load, then a
# check for failed requests, leaked processes, fds, temp files and the
# database's integrity.
SOAK_N ?= 50
soak:
	$(GO) run ./cmd/ten-bench soak -n $(SOAK_N) -out $(BENCH_OUT)

demo:
	@scripts/demo

# release-local builds what the tagged-release workflow publishes
# (.goreleaser.yaml) with plain go build: dist/ten_$(VERSION)_OS_ARCH.tar.gz,
# dist/checksums.txt and its minisign signature. Without MINISIGN_SECRET_KEY
# the signature uses a throwaway key written to dist/minisign.{key,pub}.
#   make release-local VERSION=1.2.3 [TARGETS=host|all|linux/amd64,...]
release-local:
	@scripts/release-local --dist dist --version $(VERSION) --commit $(COMMIT) --targets $(TARGETS)

# man writes the man pages of ten and ten-upgrade (generated from the CLI
# definitions) into man/, dated by the last commit.
man:
	@rm -rf man && mkdir -p man
	SOURCE_DATE_EPOCH=$${SOURCE_DATE_EPOCH:-$$(git log -1 --format=%ct 2>/dev/null || echo 0)} \
	TEN_MAN_DIR=$(CURDIR)/man \
	$(GO) test -count=1 -run '^TestManPages$$' -ldflags "-X $(PKG).Version=$(VERSION)" ./cmd/ten ./cmd/ten-upgrade
	@ls man

clean:
	rm -rf bin dist man .demo
