# Hearth. `make run` starts hearthd on the simulated house; `make check`
# runs every test and check. See README.md.

GO          ?= go
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
VERSION     ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS     := -X github.com/hearth-hub/hearth/daemon.Version=$(VERSION)

# Debian packages the checks need. `make deps` installs the missing ones
# when run as root and otherwise says which are missing.
DEBIAN_PACKAGES := gcc libc6-dev mosquitto-clients

.PHONY: all build run check deps vet staticcheck test fuzz bench bench-broker clean

all: build

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/hearthd ./cmd/hearthd
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/hearth ./cmd/hearth

run: build
	mkdir -p var
	./bin/hearthd --config examples/sim.yaml

check: deps vet staticcheck test fuzz vmtest

deps:
	@sh scripts/deps.sh $(DEBIAN_PACKAGES)

vet:
	$(GO) vet ./...

staticcheck:
	$(GO) run $(STATICCHECK) ./...

test:
	$(GO) test -race -count=1 ./...

# Each Fuzz target runs FUZZTIME on top of its seed corpus
# (testdata/fuzz); a failing input is saved there to commit with the fix.
FUZZTIME ?= 10s
fuzz:
	@for f in $$(grep -rl --include='*_test.go' '^func Fuzz' .); do \
		for t in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$f); do \
			echo "fuzz $$t in $$(dirname $$f) for $(FUZZTIME)"; \
			$(GO) test -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZTIME) $$(dirname $$f) || exit 1; \
		done; \
	done

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# Hearth's broker (bin/hearthd) against Debian's mosquitto, alternating;
# not part of check. BENCH_BROKER_FLAGS passes flags (e.g. -runs 5) to
# cmd/mqttbench. See docs/PERFORMANCE.md.
BENCH_BROKER_FLAGS ?=
bench-broker: build
	@sh scripts/bench-mosquitto.sh
	$(GO) run ./cmd/mqttbench -hearthd bin/hearthd $(BENCH_BROKER_FLAGS)

clean:
	rm -rf bin var

include vmtest.mk
