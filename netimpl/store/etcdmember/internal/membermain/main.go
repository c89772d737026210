// Command membermain runs one etcd member from flags, for the tests of
// package etcdmember, which start it inside a test host's network namespace
// the way hostd will run a member inside its host's. It prints "ready" once
// the member has joined its cluster, followed by its client URLs, and
// closes it on SIGTERM or SIGINT; it exits 1 when the member stops on its own.
//
// With -idle it starts nothing and only waits: the binary still links the
// etcd server, so its RSS is the cost of linking it without running it.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/nslab/nslab/netimpl/store/etcdmember"
)

func main() {
	var (
		c       etcdmember.Config
		adv     = flag.String("advertise", "", "underlay address")
		cluster = flag.String("cluster", "", "initial cluster: NAME=ADDR,NAME=ADDR")
		logPath = flag.String("log", "", "etcd log file (default: none)")
		timeout = flag.Duration("timeout", 30*time.Second, "give up when the cluster is not ready by then")
		idle    = flag.Bool("idle", false, "start nothing, wait for a signal")
	)
	flag.StringVar(&c.Name, "name", "", "member name")
	flag.StringVar(&c.DataDir, "data-dir", "", "data directory")
	flag.IntVar(&c.ClientPort, "client-port", 0, "client port (default 2379)")
	flag.IntVar(&c.PeerPort, "peer-port", 0, "peer port (default 2380)")
	flag.BoolVar(&c.Loopback, "loopback", false, "also serve clients on 127.0.0.1")
	flag.StringVar(&c.Token, "token", "", "initial cluster token")
	flag.StringVar(&c.State, "state", "", "new or existing")
	flag.UintVar(&c.TickMs, "tick", 0, "heartbeat interval, ms")
	flag.UintVar(&c.ElectionMs, "election", 0, "election timeout, ms")
	flag.BoolVar(&c.EnableV2, "v2", false, "serve the v2 API too")
	flag.Parse()

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	if *idle {
		fmt.Println("idle")
		<-sigs
		return
	}
	if err := configure(&c, *adv, *cluster, *logPath); err != nil {
		fail(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	m, err := etcdmember.Start(ctx, c)
	cancel()
	if err != nil {
		fail(err)
	}
	fmt.Println("ready", strings.Join(m.ClientURLs(), ","))
	select {
	case <-sigs:
		if err := m.Close(); err != nil {
			fail(err)
		}
	case <-m.Stopped():
		fail(m.Err())
	}
}

func configure(c *etcdmember.Config, adv, cluster, logPath string) error {
	var err error
	if c.Advertise, err = netip.ParseAddr(adv); err != nil {
		return fmt.Errorf("-advertise: %w", err)
	}
	c.InitialCluster = map[string]netip.Addr{}
	for _, kv := range strings.Split(cluster, ",") {
		name, addr, ok := strings.Cut(kv, "=")
		if !ok {
			return fmt.Errorf("-cluster: %q is not NAME=ADDR", kv)
		}
		if c.InitialCluster[name], err = netip.ParseAddr(addr); err != nil {
			return fmt.Errorf("-cluster: %s: %w", name, err)
		}
	}
	if logPath != "" {
		f, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return err
		}
		c.Logger = f // kept open for the life of the process
	}
	return nil
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "membermain:", err)
	os.Exit(1)
}
