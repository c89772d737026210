// Command membermain runs one etcd member from flags, for the tests of
// package etcdmember, which start it inside a test host's network namespace
// the way the lab runs cmd/nslab-etcd inside its host's. It is
// etcdmember.Main (the same command line as nslab-etcd) with a 30 s
// default -timeout: it prints "ready" once the member has joined its
// cluster, followed by its client URLs, closes it on SIGTERM or SIGINT and
// exits 1 when the member stops on its own.
//
// With -idle alone it starts nothing and only waits: the binary still
// links the etcd server, so its RSS is the cost of linking it without
// running it.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/nslab/nslab/etcdmember"
)

func main() {
	if len(os.Args) == 2 && os.Args[1] == "-idle" {
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
		fmt.Println("idle")
		<-sigs
		return
	}
	os.Exit(etcdmember.Main("membermain", os.Args[1:], os.Stdout, os.Stderr, 30*time.Second))
}
