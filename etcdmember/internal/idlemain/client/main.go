// Command client links etcd's v3 client, as a daemon that only talks to a
// cluster store must, and waits for a signal: with idlemain/bare and
// membermain -idle it splits the RSS cost of the etcd client from that of
// the server.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

	clientv3 "go.etcd.io/etcd/client/v3"
)

func main() {
	// Never taken by the tests; it keeps the client's code in the binary
	// as a store that uses it would, beyond the package initialisers.
	if len(os.Args) > 1 && os.Args[1] == "-dial" {
		if c, err := clientv3.New(clientv3.Config{Endpoints: os.Args[2:]}); err == nil {
			c.Close()
		}
		return
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	fmt.Println("idle")
	<-sigs
}
