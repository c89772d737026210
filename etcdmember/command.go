package etcdmember

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// ReadyLine starts the line a member program prints once its member has
// joined the cluster: "ready URL,URL" (its client URLs).
const ReadyLine = "ready"

// Main is the command line of a member program (cmd/nslab-etcd, and the
// tests' membermain): it runs one member from flags inside the process's
// network namespace, prints "ready URL,URL" on stdout once the member has
// joined its cluster (and on the file descriptor -ready-fd names, which it
// then closes), and closes the member on SIGTERM or SIGINT. It returns 0
// after a clean close, 1 when the member could not start or stopped on its
// own (the reason on stderr, prefixed with prog), 2 for bad flags.
// defaultTimeout is -timeout's default (0: wait for the cluster forever).
func Main(prog string, args []string, stdout, stderr io.Writer, defaultTimeout time.Duration) int {
	fs := flag.NewFlagSet(prog, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		c       Config
		adv     = fs.String("advertise", "", "underlay address: the member serves http://ADDR:client-port and http://ADDR:peer-port")
		cluster = fs.String("cluster", "", "initial cluster: NAME=ADDR,NAME=ADDR (this member included)")
		logPath = fs.String("log", "", "etcd's JSON log file (default: none)")
		timeout = fs.Duration("timeout", defaultTimeout, "give up when the cluster is not ready by then (0: never)")
		readyFD = fs.Int("ready-fd", 0, "also write the ready line to this inherited file descriptor, then close it")
	)
	fs.StringVar(&c.Name, "name", "", "member name, e.g. docker-node1")
	fs.StringVar(&c.DataDir, "data-dir", "", "data directory (a directory holding a member restarts it)")
	fs.IntVar(&c.ClientPort, "client-port", 0, "client port (default 2379)")
	fs.IntVar(&c.PeerPort, "peer-port", 0, "peer port (default 2380)")
	fs.BoolVar(&c.Loopback, "loopback", false, "also serve clients on 127.0.0.1:client-port")
	fs.StringVar(&c.Token, "token", "", "initial cluster token (default etcd-cluster)")
	fs.StringVar(&c.State, "state", "", "new (default) or existing")
	fs.UintVar(&c.TickMs, "tick", 0, "heartbeat interval, ms (default 50)")
	fs.UintVar(&c.ElectionMs, "election", 0, "election timeout, ms (default 500)")
	fs.BoolVar(&c.EnableV2, "v2", false, "serve the v2 API (/v2/keys) too, as Docker 20.10's --cluster-store needs")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "%s: unexpected arguments %q\n", prog, fs.Args())
		return 2
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "%s: %v\n", prog, err)
		return 1
	}
	// Signals first: a SIGTERM while the cluster forms must close the
	// member, not kill the process with its listeners half open.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	var ready *os.File
	if *readyFD > 0 {
		ready = os.NewFile(uintptr(*readyFD), "ready")
		if ready == nil {
			return fail(fmt.Errorf("-ready-fd %d: not an open file descriptor", *readyFD))
		}
	}
	if err := configure(&c, *adv, *cluster, *logPath); err != nil {
		return fail(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if *timeout > 0 {
		ctx, cancel = context.WithTimeout(context.Background(), *timeout)
	}
	defer cancel()
	type started struct {
		m   *Member
		err error
	}
	done := make(chan started, 1)
	go func() {
		m, err := Start(ctx, c)
		done <- started{m, err}
	}()
	var s started
	select {
	case s = <-done:
	case <-sigs:
		// Asked to stop while the cluster forms: a clean stop, not a
		// failure.
		cancel()
		if s = <-done; s.err == nil {
			if err := s.m.Close(); err != nil {
				return fail(err)
			}
		}
		return 0
	}
	if s.err != nil {
		return fail(s.err)
	}
	m := s.m
	line := ReadyLine + " " + strings.Join(m.ClientURLs(), ",") + "\n"
	io.WriteString(stdout, line)
	if ready != nil {
		io.WriteString(ready, line)
		ready.Close()
	}
	select {
	case <-sigs:
		if err := m.Close(); err != nil {
			return fail(err)
		}
		return 0
	case <-m.Stopped():
		return fail(m.Err())
	}
}

// configure fills in what the flags give as text.
func configure(c *Config, adv, cluster, logPath string) error {
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
			return fmt.Errorf("-log: %w", err)
		}
		c.Logger = f // kept open for the life of the process
	}
	return nil
}
