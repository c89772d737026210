// Command testmain is the smallest binary that runs hostd's hidden entry
// points, as cmd/nslab does: the hostd tests build it to start real daemons
// without depending on the CLI package.
package main

import (
	"fmt"
	"os"

	"github.com/nslab/nslab/hostd"
)

func main() {
	if len(os.Args) > 1 {
		if f, ok := hostd.Hidden[os.Args[1]]; ok {
			os.Exit(f(os.Args[2:]))
		}
	}
	fmt.Fprintln(os.Stderr, "usage: testmain hostd --config FILE")
	os.Exit(2)
}
