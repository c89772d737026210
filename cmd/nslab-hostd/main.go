// Command nslab-hostd is hostd, the Docker-Engine-compatible daemon of one
// virtual host (package hostd):
//
//	nslab-hostd --config /run/nslab/<lab>/<host>/hostd.json
//
// The lab starts it inside the host's network namespace and a UTS namespace
// of its own, one process per docker host, and stops it with SIGTERM.
//
// It is a binary of its own, not a subcommand of nslab, because every
// docker host runs one and the CLI's packages cost each of them memory:
// an idle `nslab` process (cobra, moby's client with OpenTelemetry,
// gopacket, the lab...) holds 25.9 MiB VmRSS (9.7 MiB private, 16.2 MiB
// of the binary's pages), a binary of package hostd alone 16.4 MiB, of
// which about 11 MiB is etcd's gRPC client of the cluster store.
package main

import (
	"os"

	"github.com/nslab/nslab/hostd"
)

func main() {
	os.Exit(hostd.Main(os.Args[1:]))
}
