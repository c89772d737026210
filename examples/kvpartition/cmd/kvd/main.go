// Command kvd serves package kv on TCP port 7000 (or $KVD_ADDR).
package main

import (
	"log"
	"net"
	"os"

	"example.com/kvpartition/kv"
)

func main() {
	addr := os.Getenv("KVD_ADDR")
	if addr == "" {
		addr = ":7000"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("kvd listening on %s", ln.Addr())
	log.Fatal(kv.Serve(ln))
}
