// Command nslab builds and drives labs of virtual hosts: network namespaces
// joined by veth legs, each docker host running hostd, nslab's
// Docker-Engine-compatible daemon. See `nslab --help` and the README.
package main

import (
	"os"

	"github.com/nslab/nslab/hostd"
)

func main() {
	// hostd and its helpers are this same binary started under another
	// first argument; they must not meet cobra's flag parsing.
	if len(os.Args) > 1 {
		if f, ok := hostd.Hidden[os.Args[1]]; ok {
			os.Exit(f(os.Args[2:]))
		}
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}
