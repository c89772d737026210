# nslab — see README.md. Everything here runs as root: labs are network
# namespaces, pinned under /run/netns.

# Go as the README installs it, when it is not on PATH already.
export PATH := $(PATH):/usr/local/go/bin
GO ?= go

BIN       := bin/nslab
# The programs the lab runs in its virtual hosts, binaries of their own found
# next to nslab: hostd on every docker host (the CLI's packages would add
# ~9 MiB to each), the etcd member on the topology's etcd hosts (the etcd
# server would add ~20 MB to every hostd).
HOSTD_BIN := bin/nslab-hostd
ETCD_BIN  := bin/nslab-etcd
NSLAB     := ./$(BIN)
# The lab `make lab` brings up, and its id (the prefix of its namespaces:
# ip netns exec classroom-node1 ip addr).
TOPOLOGY ?= fixtures/classroom.yaml
LAB      ?= classroom
VERSION  ?= $(shell git describe --always --dirty 2>/dev/null || echo devel)

# Test packages run one at a time: the native suite compares the machine's
# root namespace (including /run/netns and the mount table) before and after
# its run, and the namespaces of other packages' labs would show up in it.
TESTFLAGS ?= -count=1 -p 1 -timeout 40m
BENCHFLAGS ?= -run '^$$' -bench . -benchtime 1x

.PHONY: build lab down test bench gc clean

build:
	$(GO) build -ldflags '-X main.version=$(VERSION)' -o $(BIN) ./cmd/nslab
	$(GO) build -o $(HOSTD_BIN) ./cmd/nslab-hostd
	$(GO) build -o $(ETCD_BIN) ./cmd/nslab-etcd

lab: build
	$(NSLAB) up --detach --id $(LAB) $(TOPOLOGY)

down: build
	$(NSLAB) --lab $(LAB) down

# The suites start hostd from the binaries just built (nslab-hostd next to
# NSLAB_BIN).
test: build
	$(GO) vet ./...
	NSLAB_BIN=$(CURDIR)/$(BIN) $(GO) test $(TESTFLAGS) ./...

bench: build
	NSLAB_BIN=$(CURDIR)/$(BIN) $(GO) test $(BENCHFLAGS) ./...

gc: build
	$(NSLAB) gc

clean:
	rm -rf bin
