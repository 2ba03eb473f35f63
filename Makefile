# Hearth. `make run` starts hearthd on the simulated house; `make check`
# runs every test and check. See README.md.

GO          ?= go
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
VERSION     ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS     := -X github.com/hearth-hub/hearth/daemon.Version=$(VERSION)

# Debian packages the checks need. `make deps` installs the missing ones
# when run as root and otherwise says which are missing.
DEBIAN_PACKAGES := gcc libc6-dev mosquitto-clients

.PHONY: all build run check deps vet staticcheck test bench clean

all: build

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/hearthd ./cmd/hearthd
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/hearth ./cmd/hearth

run: build
	mkdir -p var
	./bin/hearthd --config examples/sim.yaml

check: deps vet staticcheck test vmtest

deps:
	@sh scripts/deps.sh $(DEBIAN_PACKAGES)

vet:
	$(GO) vet ./...

staticcheck:
	$(GO) run $(STATICCHECK) ./...

test:
	$(GO) test -race -count=1 ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

clean:
	rm -rf bin var

include vmtest.mk
