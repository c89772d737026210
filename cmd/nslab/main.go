// Command nslab builds and drives labs of virtual hosts: network namespaces
// joined by veth legs, each docker host running hostd, nslab's
// Docker-Engine-compatible daemon. See `nslab --help` and the README.
package main

import (
	"fmt"
	"os"

	"github.com/nslab/nslab/hostd/api"
)

func main() {
	// `nslab hostd --config FILE` is the daemon as the lab started it
	// before hostd had a binary of its own, kept for scripts and harnesses
	// that still start it so; it must not meet cobra's flag parsing. The
	// lab starts nslab-hostd: this binary carries the whole CLI, which
	// costs every hostd about 9 MiB of resident memory.
	if len(os.Args) > 1 && os.Args[1] == "hostd" {
		fmt.Fprintln(os.Stderr, "nslab hostd: deprecated: the same daemon as nslab-hostd (make build puts it next to nslab), with the whole CLI's memory")
		os.Exit(api.Main(os.Args[2:]))
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}
