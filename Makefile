# nslab — see README.md. Everything here runs as root: labs are network
# namespaces, pinned under /run/netns.

# Go as the README installs it, when it is not on PATH already.
export PATH := $(PATH):/usr/local/go/bin
GO ?= go
# Every go command here builds with -trimpath: the objects then name the
# module's files by module path, not by this clone's directory, so what
# the build cache, go vet and staticcheck keep serves every clone of the
# repository on the machine, and a fresh clone recompiles only what
# differs from one built before (about 130 s of CPU in make test; the
# README's figures). A test finds the repository's files from its
# working directory then (internal/srcroot). The examples build as their
# users do, without it.
export GOFLAGS := $(strip $(GOFLAGS) -trimpath)

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

# What make test writes: one JUnit file per suite (native.xml,
# reference.xml) and for the package tests (packages.xml), each suite's
# Ginkgo JSON report (native.json, reference.json: where its time went,
# `make timing`), and the parity observations and report (parity/).
RESULTS := $(CURDIR)/test-results
# LABELS=E21 (any Ginkgo label filter: 'E20 || E21', '!needs-gretap') runs
# only the suites' specs it selects, and no package test.
LABELS ?=
# Each go test run's bound: below CI's job timeout-minutes, so a hung test
# fails with its goroutines' stacks instead of a cancelled job.
TIMEOUT ?= 25m
# Test packages run PACKAGES at a time, beside the suites: every test makes
# its namespaces and labs under names of its own, and the suites' check of
# the machine counts only what their own labs (or no lab) name.
PACKAGES ?= 4
# Test binaries are linked at every run and thrown away: linked without
# DWARF (-w) each costs about a quarter less (1.7 → 1.3 s of CPU for
# hostd's); `make test TESTLDFLAGS=` keeps it, for a debugger.
TESTLDFLAGS ?= -w
TESTFLAGS ?= -count=1 -p $(PACKAGES) -timeout $(TIMEOUT) $(if $(TESTLDFLAGS),-ldflags='$(TESTLDFLAGS)')
# A package test that fails is run again, alone, up to twice (gotestsum
# --rerun-fails; each attempt is in the output and the JUnit file): the
# tests that measure rates, losses and deadlines (iperf3 through a shaped
# link, etcd's quorum timings) run here beside both suites on two cores.
# A test that fails all three times fails the run. RERUN= turns it off.
RERUN ?= --rerun-fails=2 --rerun-fails-max-failures=12
# The packages whose tests take longest go first: go test builds and runs
# packages in the order it is given them, PACKAGES at a time, and the
# package tests end with the last long one to start (lab's, alphabetically
# among the last, started 55 s into a run and ended it at 234 s). Longest
# first, by the JUnit of 2026-12-07's runs.
SLOW_PACKAGES := ./lab ./hostd ./etcdmember ./netimpl/store ./netimpl/firewall ./cmd/nslab \
	./labtest ./netns/probe ./transcripts ./netimpl/store/internal/etcdv2 ./netimpl/overlay
BENCHFLAGS ?= -run '^$$' -bench . -benchtime 1x -timeout 60m
# Tools run through the Go module proxy, pinned.
ACTIONLINT := github.com/rhysd/actionlint/cmd/actionlint@v1.7.12
# staticcheck's settings are in staticcheck.conf.
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
GOTESTSUM  := gotest.tools/gotestsum@v1.13.0
# The ginkgo CLI of go.mod's Ginkgo runs each suite's specs in PROCS
# parallel processes, which share the suite's labs (a pool, reset between
# specs).
GINKGO := github.com/onsi/ginkgo/v2/ginkgo
PROCS  ?= 4
# The reference suite, the longest part of make test, runs in more: its
# processes mostly wait (real dockerds starting, silence windows).
REFERENCE_PROCS ?= 6

# The suites start hostd from the binaries just built (nslab-hostd next to
# NSLAB_BIN) and record their observations for the parity report.
SUITE_ENV = NSLAB_BIN=$(CURDIR)/$(BIN) NSLAB_PARITY_DIR=$(RESULTS)/parity
SUITE_FLAGS = --procs=$(2) --timeout=$(TIMEOUT) --output-dir=$(RESULTS) \
	--junit-report=$(1).xml --json-report=$(1).json $(if $(LABELS),--label-filter='$(LABELS)')
# What make test runs, all at once: the CPU mostly waits (daemons starting,
# probes' deadlines, silence windows).
TEST_PARTS := $(if $(LABELS),test-suites,lint test-packages test-suites test-examples)

.PHONY: deps build lab down test test-packages test-suites test-native test-reference test-examples lint parity parity-check timing bench gc clean

# Installs what the labs use and the machine lacks (apt-get, service starts
# forbidden; Docker 20.10's static binaries when it has no Docker 20.10);
# a no-op when all is there.
deps:
	@.ci/install

# nslab-hostd is linked statically (no cgo): on a kernel before 6.15 every
# container's init is hostd's binary executed again (the fallback, README
# "How it starts"), and a dynamic one costs each container the dynamic
# loader's work (0.8 ms a start on this machine).
build:
	$(GO) build -ldflags '-X main.version=$(VERSION)' -o $(BIN) ./cmd/nslab
	CGO_ENABLED=0 $(GO) build -o $(HOSTD_BIN) ./cmd/nslab-hostd
	$(GO) build -o $(ETCD_BIN) ./cmd/nslab-etcd

lab: deps build
	$(NSLAB) up --detach --id $(LAB) $(TOPOLOGY)

down: build
	$(NSLAB) --lab $(LAB) down

# lint, the package tests, both suites side by side (then the parity
# report, which compares them) and the examples, all at once; each part
# runs even when another failed, and the status says whether all passed.
test: deps build
	@rm -rf $(RESULTS) && mkdir -p $(RESULTS)
	@rc=0; $(MAKE) --no-print-directory -k -j4 $(TEST_PARTS) || rc=1; \
	echo "JUnit, Ginkgo reports and parity: $(RESULTS)"; exit $$rc

test-packages: build
	@mkdir -p $(RESULTS)
	NSLAB_BIN=$(CURDIR)/$(BIN) $(GO) run $(GOTESTSUM) --format pkgname-and-test-fails \
		--junitfile $(RESULTS)/packages.xml $(RERUN) \
		--packages "$$({ $(GO) list $(SLOW_PACKAGES); $(GO) list ./... | grep -v /suites/; } | awk '!seen[$$0]++')" -- $(TESTFLAGS)

# Both suites side by side, then the parity report of the two.
test-suites: build
	@rc=0; $(MAKE) --no-print-directory test-native & n=$$!; \
	$(MAKE) --no-print-directory test-reference & r=$$!; \
	wait $$n || rc=1; wait $$r || rc=1; \
	$(MAKE) --no-print-directory parity-check || rc=1; exit $$rc

test-native: build
	@mkdir -p $(RESULTS)
	$(SUITE_ENV) $(GO) run $(GINKGO) $(call SUITE_FLAGS,native,$(PROCS)) ./suites/native

test-reference: build
	@mkdir -p $(RESULTS)
	$(SUITE_ENV) $(GO) run $(GINKGO) $(call SUITE_FLAGS,reference,$(REFERENCE_PROCS)) ./suites/reference

# The parity report of the suites' observations (both must have run):
# parity/report.txt and report.xml (JUnit); fails on a difference no
# reviewed deliberate difference explains.
parity-check: build
	@rc=0; $(NSLAB) parity --dir $(RESULTS)/parity --format junit > $(RESULTS)/parity/report.xml || rc=$$?; \
	$(NSLAB) parity --dir $(RESULTS)/parity > $(RESULTS)/parity/report.txt || rc=$$?; \
	tail -n 3 $(RESULTS)/parity/report.txt; exit $$rc

# Where the suites' time went, from the Ginkgo reports of the last run.
timing:
	$(GO) run ./suites/internal/timing $(wildcard $(RESULTS)/native.json $(RESULTS)/reference.json)

# The example consumers under examples/, each a module of its own, tested
# as their users would: go test in their directory, no make build, no
# NSLAB_BIN (the lab builds its programs from this checkout, through their
# replace directive).
EXAMPLES := $(wildcard examples/*/go.mod)

test-examples:
	@mkdir -p $(RESULTS)
	@rc=0; for m in $(EXAMPLES); do d=$$(dirname $$m); \
		echo "cd $$d && go test ./..."; \
		(cd $$d && GOFLAGS='$(filter-out -trimpath,$(GOFLAGS))' $(GO) test $(TESTFLAGS) ./...) || rc=1; \
	done; exit $$rc

# gofmt, go vet, staticcheck, the CI workflow's syntax, expressions and
# shell (actionlint), and .ci's scripts (shellcheck, where it is installed).
lint:
	@files=$$(gofmt -l .); if [ -n "$$files" ]; then echo "gofmt -l: $$files"; exit 1; fi
	$(GO) vet ./...
	@for m in $(EXAMPLES); do (cd $$(dirname $$m) && GOFLAGS='$(filter-out -trimpath,$(GOFLAGS))' $(GO) vet ./...) || exit 1; done
	$(GO) run $(STATICCHECK) ./...
	$(GO) run $(ACTIONLINT) .github/workflows/*.yml
	@if command -v shellcheck >/dev/null; then shellcheck -S warning .ci/install .ci/run; \
	else echo "shellcheck not installed: .ci/install and .ci/run not checked"; fi

# The parity report of the last make test.
parity: build
	$(NSLAB) parity --dir $(RESULTS)/parity

bench: build
	NSLAB_BIN=$(CURDIR)/$(BIN) $(GO) test $(BENCHFLAGS) ./...

gc: build
	$(NSLAB) gc

clean:
	rm -rf bin test-results
