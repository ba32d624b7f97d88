# rackwatch: the two commands a newcomer needs are `make demo` and `make test`.
GO      ?= go
PKG     := github.com/rackwatch/rackwatch
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X $(PKG)/agent/buildinfo.Version=$(VERSION)
DIST    := dist

.PHONY: demo test test-stress go-test c-test build vet fmt-check tag-builds release release-min binaries tarballs package package-test stage tools bench bench-footprint size fuzz clean

# demo builds the binary and runs it rather than `go run`, which exits 1 on every Ctrl-C whatever the
# program does: Ctrl-C is how the demo ends, and it ends cleanly.
demo: build
	$(DIST)/rackwatch demo -c configs/demo.yaml

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(DIST)/rackwatch ./cmd/rackwatch

# test runs every check CI runs: formatting, vet, every build-tag combination a release uses, the
# firmware's C tests, the suite (race-enabled where the race detector exists), the example configs.
test: fmt-check vet tag-builds c-test go-test

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

# bench runs every benchmark; the footprint of the 64-register Modbus job (the real binary, default and
# minimal builds, against a local Mosquitto: VmHWM, RssAnon, RssFile and the agent's own delay) comes
# first, with its log lines. FOOTPRINT_POLLS sets its length (default 60 polls, one a second).
bench: bench-footprint
	$(GO) test -run '^$$' -bench . -skip 'Modbus64Job' -benchmem ./...

bench-footprint:
	$(GO) test -run '^$$' -bench 'Modbus64Job' -benchtime 1x -timeout 30m ./agent/

# The smallest useful gateway: I2C, 1-Wire, GPIO, thermal zones, Modbus RTU/TCP, exec hooks, MQTT over
# TCP, TLS and websockets; without SNMP, NUT, Megatec, the firmware bridge, the simulated sensors, the
# embedded broker, the HTTP endpoints and the pager (docs/footprint.md). A config that uses a part left
# out fails `rackwatch check` at its line, saying so. agent/footprint_test.go keeps the same list.
MIN_TAGS := nosnmp,nonut,nomegatec,nobridge,nobroker,nohttp,nopager,nosim
# Each family's tag alone, and the minimal set: every combination a release builds.
TAG_SETS := nosnmp nonut nomegatec nobridge nobroker nohttp nopager nosim $(MIN_TAGS)

# tag-builds builds every tag set for linux/arm (GOARM=6) into a temporary directory, vets the packages
# the tags change (with their tests) under the minimal set, and runs the minimal build's own tests (what it
# runs, what it refuses, what `version` says). The rest of the suite tests the full build: its tests use
# the simulated sensors and the embedded broker. Only the packages with tagged files are rebuilt per set.
tag-builds:
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	for t in $(TAG_SETS); do \
		echo "go build -tags $$t (linux/arm)"; \
		CGO_ENABLED=0 GOOS=linux GOARCH=arm GOARM=6 $(GO) build -trimpath -tags "$$t" -o "$$tmp/rackwatch" ./cmd/rackwatch || exit 1; \
	done
	$(GO) vet -tags '$(MIN_TAGS)' ./agent/ ./cmd/rackwatch/
	$(GO) test -count=1 -tags '$(MIN_TAGS)' -run 'MinimalBuild' ./cmd/rackwatch/

# size prints what each module and package costs in the linux/arm (GOARM=6) binary, default and minimal
# builds (symbols summed per package; the function tables shared out in proportion to code).
size:
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	for b in default:'' min:'$(MIN_TAGS)'; do \
		name=$${b%%:*}; tags=$${b#*:}; \
		CGO_ENABLED=0 GOOS=linux GOARCH=arm GOARM=6 $(GO) build -trimpath -tags "$$tags" -ldflags "$(LDFLAGS)" -o "$$tmp/stripped" ./cmd/rackwatch || exit 1; \
		CGO_ENABLED=0 GOOS=linux GOARCH=arm GOARM=6 $(GO) build -trimpath -tags "$$tags" -ldflags "-w -X $(PKG)/agent/buildinfo.Version=$(VERSION)" -o "$$tmp/symbols" ./cmd/rackwatch || exit 1; \
		echo "== $$name build (tags: $${tags:-none}): $$(stat -c %s "$$tmp/stripped") bytes stripped"; \
		$(GO) run ./agent/internal/binsize "$$tmp/symbols" || exit 1; \
	done

# binaries cross-builds stripped static binaries for the gateways rackwatch runs on: armv6 (Pi Zero and Pi
# 1; also runs on every newer 32-bit board), armv7, arm64 and amd64.
BINARIES := armv6 armv7 arm64 amd64
binaries:
	@mkdir -p $(DIST)
	CGO_ENABLED=0 GOOS=linux GOARCH=arm GOARM=6 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(DIST)/rackwatch-linux-armv6 ./cmd/rackwatch
	CGO_ENABLED=0 GOOS=linux GOARCH=arm GOARM=7 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(DIST)/rackwatch-linux-armv7 ./cmd/rackwatch
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(DIST)/rackwatch-linux-arm64 ./cmd/rackwatch
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(DIST)/rackwatch-linux-amd64 ./cmd/rackwatch
	@ls -l $(DIST)/rackwatch-linux-*

# release-min cross-builds the minimal gateway (MIN_TAGS) for the same boards into dist/min/, with its own
# SHA256SUMS. Install it in place of the full binary where the gateway needs nothing it leaves out.
release-min:
	@mkdir -p $(DIST)/min
	CGO_ENABLED=0 GOOS=linux GOARCH=arm GOARM=6 $(GO) build -trimpath -tags '$(MIN_TAGS)' -ldflags "$(LDFLAGS)" -o $(DIST)/min/rackwatch-min-linux-armv6 ./cmd/rackwatch
	CGO_ENABLED=0 GOOS=linux GOARCH=arm GOARM=7 $(GO) build -trimpath -tags '$(MIN_TAGS)' -ldflags "$(LDFLAGS)" -o $(DIST)/min/rackwatch-min-linux-armv7 ./cmd/rackwatch
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build -trimpath -tags '$(MIN_TAGS)' -ldflags "$(LDFLAGS)" -o $(DIST)/min/rackwatch-min-linux-arm64 ./cmd/rackwatch
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 $(GO) build -trimpath -tags '$(MIN_TAGS)' -ldflags "$(LDFLAGS)" -o $(DIST)/min/rackwatch-min-linux-amd64 ./cmd/rackwatch
	cd $(DIST)/min && sha256sum rackwatch-min-linux-* > SHA256SUMS
	@ls -l $(DIST)/min/rackwatch-min-linux-*

# Tools the build needs beyond Go are installed here from the Go module proxy, at pinned versions, never
# system-wide. The binary's name carries its version, so changing the pin installs the new one.
TOOLS        := $(CURDIR)/.tools/bin
NFPM_VERSION := v2.45.2
NFPM         := $(TOOLS)/nfpm-$(NFPM_VERSION)

$(NFPM):
	@mkdir -p $(TOOLS)
	GOBIN=$(TOOLS) $(GO) install github.com/goreleaser/nfpm/v2/cmd/nfpm@$(NFPM_VERSION)
	mv $(TOOLS)/nfpm $@

tools: $(NFPM)

# Package versions: v1.2.0 -> 1.2.0; 3 commits after it -> 1.2.0+3.gHASH; no tag yet -> 0.0.0+gitDATE.HASH.
# Every archive gets the last commit's time, so the same commit builds the same bytes.
PKG_VERSION ?= $(shell v=$$(git describe --tags --match 'v[0-9]*' 2>/dev/null) && echo "$${v\#v}" | sed 's/-\([0-9]*\)-g/+\1.g/' || \
	echo "0.0.0+git$$(git log -1 --format=%cd.%h --date=format:%Y%m%d 2>/dev/null || echo 0)")
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
export SOURCE_DATE_EPOCH

# The Debian architectures and the binary each one gets: armhf takes the armv6 build, so one package
# serves the Pi Zero and every newer board on Raspberry Pi OS (and Debian's armhf, which is armv7).
DEB_ARCHES   := armhf arm64 amd64
PKGSTAGE     := $(DIST)/stage

# The shared files the package installs under /usr/share: example configs, Modbus profiles, Grafana
# dashboards when there are any, and the guides.
stage:
	@rm -rf $(PKGSTAGE) && mkdir -p $(PKGSTAGE)/share/examples $(PKGSTAGE)/share/profiles $(PKGSTAGE)/doc/docs
	cp configs/*.yaml $(PKGSTAGE)/share/examples/
	cp configs/profiles/*.yaml $(PKGSTAGE)/share/profiles/
	@if ls configs/grafana/*.json >/dev/null 2>&1; then \
		mkdir -p $(PKGSTAGE)/share/grafana && cp configs/grafana/*.json $(PKGSTAGE)/share/grafana/; \
	fi
	cp README.md $(PKGSTAGE)/doc/
	cp docs/*.md $(PKGSTAGE)/doc/docs/
	chmod -R u=rwX,go=rX $(PKGSTAGE)

# package builds the Debian packages (dist/rackwatch_VERSION-1_ARCH.deb) with nfpm.
package: binaries stage $(NFPM)
	@for arch in $(DEB_ARCHES); do \
		bin=$(DIST)/rackwatch-linux-$$arch; [ $$arch = armhf ] && bin=$(DIST)/rackwatch-linux-armv6; \
		PKG_ARCH=$$arch PKG_VERSION='$(PKG_VERSION)' PKG_BIN=$$bin PKG_SHARE=$(PKGSTAGE)/share PKG_DOC=$(PKGSTAGE)/doc \
			$(NFPM) package --config configs/packaging/nfpm.yaml --packager deb --target $(DIST)/ || exit 1; \
	done
	@ls -l $(DIST)/*.deb

# tarballs: for gateways without dpkg, each binary with the unit, the udev rules, the starting config and
# the install guide.
tarballs: binaries
	@for a in $(BINARIES); do \
		d=rackwatch_$(PKG_VERSION)_linux_$$a; rm -rf $(DIST)/$$d; mkdir -p $(DIST)/$$d; \
		cp $(DIST)/rackwatch-linux-$$a $(DIST)/$$d/rackwatch; \
		cp configs/systemd/rackwatch.service configs/packaging/60-rackwatch.rules configs/packaging/rackwatch.yaml README.md docs/install.md $(DIST)/$$d/; \
		tar -C $(DIST) --sort=name --mtime=@$(SOURCE_DATE_EPOCH) --owner=0 --group=0 --numeric-owner -cf - $$d | gzip -n9 > $(DIST)/$$d.tar.gz || exit 1; \
		rm -rf $(DIST)/$$d; \
	done

# release writes everything a release publishes into dist/: the binaries, the tarballs, the Debian packages
# and SHA256SUMS over them (check with `sha256sum -c SHA256SUMS`).
release: binaries tarballs package
	cd $(DIST) && sha256sum rackwatch-linux-* rackwatch_*.tar.gz rackwatch_*.deb > SHA256SUMS
	@cat $(DIST)/SHA256SUMS

# package-test builds the packages, inspects them, and on a machine where it may (root, dpkg), installs,
# upgrades, removes and purges the amd64 one; see configs/packaging/package-test.sh.
package-test: package
	PKG_VERSION='$(PKG_VERSION)' DIST=$(DIST) NFPM=$(NFPM) PKGSTAGE=$(PKGSTAGE) sh configs/packaging/package-test.sh

clean:
	rm -rf $(DIST)
