# rackwatch: the two commands a newcomer needs are `make demo` and `make test`.
GO      ?= go
PKG     := github.com/rackwatch/rackwatch
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X $(PKG)/agent/buildinfo.Version=$(VERSION)
DIST    := dist

.PHONY: demo test test-stress go-test c-test build vet fmt-check release bench fuzz clean

demo:
	$(GO) run ./cmd/rackwatch demo -c configs/demo.yaml

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(DIST)/rackwatch ./cmd/rackwatch

# test runs every check CI runs: formatting, vet, the firmware's C tests, the suite (race-enabled where the
# race detector exists), the example configs.
test: fmt-check vet c-test go-test

# go_test runs the Go suite once. The race detector needs cgo with a C compiler, on a platform it supports
# (linux/amd64 and linux/arm64 do, 32-bit ARM does not): elsewhere the suite runs without it, saying so.
# GORACE: the race runtime sleeps a second at the exit of every test binary by default (about forty of
# them here); a tenth of that still lets goroutines still running report. Set GORACE to override.
define go_test
	race=-race; \
	if ! $(GO) list -race runtime >/dev/null 2>&1 || ! command -v "$$($(GO) env CC | cut -d' ' -f1)" >/dev/null 2>&1; then \
		race=; echo "go test: race detector unavailable here (needs cgo, a C compiler and a supported platform; not linux/arm): running without -race"; \
	fi; \
	GORACE="$${GORACE:-atexit_sleep_ms=100}" $(GO) test $$race -count=1 -timeout 20m ./...
endef

go-test:
	@$(go_test)

# test-stress runs the suite as a busy gateway or a shared CI runner would: two CPU-bound processes run
# beside the C tests and STRESS_RUNS runs of the Go suite in a row. The hogs are stopped by their PIDs
# however the runs end, and each stops on its own if the shell that started it is gone.
STRESS_RUNS ?= 3
test-stress: fmt-check vet
	@hog() { n=0; while :; do n=$$((n + 1)); if [ $$n -ge 100000 ]; then n=0; kill -0 $$1 2>/dev/null || exit 0; fi; done; }; \
	hog $$$$ & h1=$$!; hog $$$$ & h2=$$!; \
	trap 'kill $$h1 $$h2 2>/dev/null; wait $$h1 $$h2 2>/dev/null' EXIT; trap 'exit 1' HUP INT TERM PIPE; \
	echo "test-stress: CPU hogs running as PIDs $$h1 and $$h2"; \
	{ $(c_test); } || exit 1; \
	i=1; while [ $$i -le $(STRESS_RUNS) ]; do \
		echo "test-stress: run $$i of $(STRESS_RUNS)"; \
		{ $(go_test); } || { echo "test-stress: run $$i of $(STRESS_RUNS) failed"; exit 1; }; \
		i=$$((i + 1)); \
	done; \
	echo "test-stress: $(STRESS_RUNS) runs passed"

# c-test builds and runs the reference firmware's own unit tests (gcc, portable C99).
define c_test
	if [ -f firmware-bridge/firmware/Makefile ]; then \
		if command -v gcc >/dev/null 2>&1; then $(MAKE) -C firmware-bridge/firmware test; \
		else echo "c-test: skipped, gcc not found (apt-get install gcc make): the firmware's C unit tests did not run"; fi; \
	fi
endef

c-test:
	@$(c_test)

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
