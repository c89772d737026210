// Command bare links nothing beyond the standard library and waits for a
// signal: the baseline RSS against which the tests of package etcdmember
// measure what linking etcd costs a process that never starts a member.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	fmt.Println("idle")
	<-sigs
}
