# rackwatch: the two commands a newcomer needs are `make demo` and `make test`.
GO      ?= go
PKG     := github.com/rackwatch/rackwatch
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X $(PKG)/agent/buildinfo.Version=$(VERSION)
DIST    := dist

.PHONY: demo test c-test build vet fmt-check release bench fuzz clean

demo:
	$(GO) run ./cmd/rackwatch demo -c configs/demo.yaml

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(DIST)/rackwatch ./cmd/rackwatch

# test runs every check CI runs: formatting, vet, the race-enabled suite, the example configs.
test: fmt-check vet c-test
	$(GO) test -race -count=1 -timeout 20m ./...

# c-test builds and runs the reference firmware's own unit tests (gcc, portable C99).
c-test:
	@if [ -f firmware-bridge/firmware/Makefile ]; then $(MAKE) -C firmware-bridge/firmware test; fi

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# release cross-builds stripped binaries for the gateways rackwatch runs on.
release:
	@mkdir -p $(DIST)
	CGO_ENABLED=0 GOOS=linux GOARCH=arm GOARM=6 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(DIST)/rackwatch-linux-armv6 ./cmd/rackwatch
	CGO_ENABLED=0 GOOS=linux GOARCH=arm GOARM=7 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(DIST)/rackwatch-linux-armv7 ./cmd/rackwatch
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(DIST)/rackwatch-linux-arm64 ./cmd/rackwatch
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(DIST)/rackwatch-linux-amd64 ./cmd/rackwatch
	@ls -l $(DIST)/rackwatch-linux-*

clean:
	rm -rf $(DIST)
