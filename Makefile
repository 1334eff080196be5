# Build, test and demo targets. VERSION and COMMIT are stamped into both
# binaries: make build VERSION=1.2.3
VERSION ?= 0.0.0-dev
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
PKG     := github.com/tenement/ten/version
LDFLAGS := -s -w -X $(PKG).Version=$(VERSION) -X $(PKG).Commit=$(COMMIT)
GO      ?= go
export CGO_ENABLED ?= 0

.PHONY: build test test-deps lint bench demo clean

build:
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/ten ./cmd/ten
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/ten-upgrade ./cmd/ten-upgrade

# test installs what the integration tests need (Caddy, nginx) when missing,
# then runs the linters and the whole suite with the race detector.
test: test-deps lint
	CGO_ENABLED=1 $(GO) test -race -count=1 ./...

test-deps:
	@scripts/install-test-deps

lint:
	@out=$$(gofmt -l . 2>&1); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	CGO_ENABLED=0 $(GO) build ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

demo:
	@scripts/demo

clean:
	rm -rf bin dist .demo
