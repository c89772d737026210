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
	f, ok := parseFlags(prog, args, stderr, defaultTimeout)
	if !ok {
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
	if f.readyFD > 0 {
		if ready = os.NewFile(uintptr(f.readyFD), "ready"); ready == nil {
			return fail(fmt.Errorf("-ready-fd %d: not an open file descriptor", f.readyFD))
		}
	}
	if err := configure(&f.c, f.adv, f.cluster, f.logPath); err != nil {
		return fail(err)
	}
	m, err := startOrStop(f.c, f.timeout, sigs)
	if err != nil {
		return fail(err)
	}
	if m == nil {
		return 0 // asked to stop while the cluster formed
	}
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

// memberFlags is a member program's command line.
type memberFlags struct {
	c                     Config
	adv, cluster, logPath string
	timeout               time.Duration
	readyFD               int
}

// parseFlags reads the command line; on a bad one it has said why on
// stderr and returns false.
func parseFlags(prog string, args []string, stderr io.Writer, defaultTimeout time.Duration) (*memberFlags, bool) {
	var f memberFlags
	fs := flag.NewFlagSet(prog, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.adv, "advertise", "", "underlay address: the member serves http://ADDR:client-port and http://ADDR:peer-port")
	fs.StringVar(&f.cluster, "cluster", "", "initial cluster: NAME=ADDR,NAME=ADDR (this member included)")
	fs.StringVar(&f.logPath, "log", "", "etcd's JSON log file (default: none)")
	fs.DurationVar(&f.timeout, "timeout", defaultTimeout, "give up when the cluster is not ready by then (0: never)")
	fs.IntVar(&f.readyFD, "ready-fd", 0, "also write the ready line to this inherited file descriptor, then close it")
	fs.StringVar(&f.c.Name, "name", "", "member name, e.g. docker-node1")
	fs.StringVar(&f.c.DataDir, "data-dir", "", "data directory (a directory holding a member restarts it)")
	fs.IntVar(&f.c.ClientPort, "client-port", 0, "client port (default 2379)")
	fs.IntVar(&f.c.PeerPort, "peer-port", 0, "peer port (default 2380)")
	fs.BoolVar(&f.c.Loopback, "loopback", false, "also serve clients on 127.0.0.1:client-port")
	fs.StringVar(&f.c.Token, "token", "", "initial cluster token (default etcd-cluster)")
	fs.StringVar(&f.c.State, "state", "", "new (default) or existing")
	fs.UintVar(&f.c.TickMs, "tick", 0, "heartbeat interval, ms (default 50)")
	fs.UintVar(&f.c.ElectionMs, "election", 0, "election timeout, ms (default 500)")
	fs.BoolVar(&f.c.EnableV2, "v2", false, "serve the v2 API (/v2/keys) too, as Docker 20.10's --cluster-store needs")
	if err := fs.Parse(args); err != nil {
		return nil, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "%s: unexpected arguments %q\n", prog, fs.Args())
		return nil, false
	}
	return &f, true
}

// startOrStop starts the member and waits until it has joined its cluster
// (at most timeout, when not 0). A signal meanwhile stops it cleanly: the
// member is then nil, and so is the error.
func startOrStop(c Config, timeout time.Duration, sigs <-chan os.Signal) (*Member, error) {
	ctx, cancel := context.WithCancel(context.Background())
	if timeout > 0 {
		ctx, cancel = context.WithTimeout(context.Background(), timeout)
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
	select {
	case s := <-done:
		return s.m, s.err
	case <-sigs:
		// Asked to stop while the cluster forms: a clean stop, not a
		// failure.
		cancel()
		if s := <-done; s.err == nil {
			return nil, s.m.Close()
		}
		return nil, nil
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
