// Command nslab-hostd is hostd, the Docker-Engine-compatible daemon of one
// virtual host (package hostd):
//
//	nslab-hostd --config /run/nslab/<lab>/<host>/hostd.json
//
// The lab starts it inside the host's network namespace and a UTS namespace
// of its own, one process per docker host, and stops it with SIGTERM.
//
// It is a binary of its own, not a subcommand of nslab, because every
// docker host runs one and the CLI's packages (cobra, moby's client with
// OpenTelemetry, gopacket's tables, the lab...) cost each of them memory:
// with 10 containers a hostd holds 13.2–13.9 MiB VmRSS as nslab-hostd and
// 22.1–22.3 MiB as `nslab hostd` (go test -bench 'BenchmarkUp$' ./lab/).
package main

import (
	"os"

	"github.com/nslab/nslab/hostd/api"
)

func main() {
	os.Exit(api.Main(os.Args[1:]))
}
