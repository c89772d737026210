// Command idlegateway links the network engine's cluster store
// (netimpl/store, which talks to etcd's v2 API over plain HTTP), as hostd
// does, and waits for a signal: set against etcdmember's idle programs
// (etcdmember/internal/idlemain: bare, etcd's gRPC client) it shows what
// dropping etcd's gRPC client saves every hostd. It lives beside the store
// it links: etcdmember's cost test builds it by path, never imports it.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/nslab/nslab/netimpl/store"
)

func main() {
	// Never taken by the tests; it keeps the client's code in the binary
	// as the store that uses it does, beyond the package initialisers.
	if len(os.Args) > 1 && os.Args[1] == "-dial" {
		if s, err := store.OpenEtcd(store.EtcdConfig{Endpoints: os.Args[2:]}); err == nil {
			s.Close()
		}
		return
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	fmt.Println("idle")
	<-sigs
}
