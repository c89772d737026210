package labtest

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"

	"github.com/miekg/dns"
	"github.com/moby/moby/client"

	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/netns/probe"
)

// Host is one virtual host of a test's lab: a lab.Host (NetNS, Exec,
// DockerHost, Logs, ...) with a Docker client, a shell and probes that run
// inside its network namespace.
type Host struct {
	*lab.Host
	l *Lab

	mu     sync.Mutex
	docker *client.Client
}

// Lab is the lab the host belongs to.
func (h *Host) Lab() *Lab { return h.l }

// Docker returns a Docker Engine API client of the host's daemon (hostd
// or dockerd), made once and closed when the test ends; the test fails
// when the host runs no daemon.
func (h *Host) Docker() *client.Client {
	h.l.t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.docker == nil {
		c, err := h.DockerClient()
		if err != nil {
			h.l.t.Fatalf("labtest: %v", err)
		}
		h.docker = c
	}
	return h.docker
}

func (h *Host) closeDocker() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.docker != nil {
		h.docker.Close()
		h.docker = nil
	}
}

// Sh runs a shell command line inside the host, as one types it there (its
// network, UTS and mount namespaces), and returns its standard output; the
// test fails unless it exits 0 within StepTimeout.
func (h *Host) Sh(line string) string {
	h.l.t.Helper()
	ctx, cancel := h.l.step(StepTimeout)
	defer cancel()
	r, err := h.Exec(ctx, "sh", "-c", line)
	if err != nil {
		h.l.t.Fatalf("labtest: on %s: %s: %v", h.Name, line, err)
	}
	if r.ExitCode != 0 {
		h.l.t.Fatalf("labtest: on %s: %s: exit %d\nstdout: %s\nstderr: %s", h.Name, line, r.ExitCode, r.Stdout, r.Stderr)
	}
	return r.Stdout
}

// Addr returns the host's first interface address (its address on its
// first segment); the test fails when it has none.
func (h *Host) Addr() netip.Addr {
	h.l.t.Helper()
	for _, i := range h.Spec.Interfaces {
		if i.Address.IsValid() {
			return i.Address.Addr()
		}
	}
	h.l.t.Fatalf("labtest: host %s has no address on a segment", h.Name)
	return netip.Addr{}
}

// Endpoint is the host as a party of a reachability matrix
// (Lab.Reachability): pings from its namespace, to its first address.
func (h *Host) Endpoint() probe.Endpoint {
	h.l.t.Helper()
	return probe.Endpoint{Name: h.Name, NS: h.NetNS(), Addr: h.Addr()}
}

// Ping sends echo requests to dst (an IP literal) from inside the host
// until one is answered (nil) or ProbeTimeout passes (an error matching
// probe.ErrDeadline).
func (h *Host) Ping(ctx context.Context, dst string) error {
	a, err := netip.ParseAddr(dst)
	if err != nil {
		return fmt.Errorf("ping from %s: %w", h.Name, err)
	}
	_, err = probe.Ping(ctx, h.NetNS(), a, probe.Opts{Timeout: ProbeTimeout})
	return err
}

// TCP connects to addr ("ip:port") from inside the host, retrying until a
// connection is made or ProbeTimeout passes.
func (h *Host) TCP(ctx context.Context, addr string) error {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return fmt.Errorf("tcp from %s: %w", h.Name, err)
	}
	return probe.TCP(ctx, h.NetNS(), ap, probe.Opts{Timeout: ProbeTimeout})
}

// HTTP gets url (its host an IP literal) from inside the host, retrying
// until any response arrives or ProbeTimeout passes.
func (h *Host) HTTP(ctx context.Context, url string) (status int, body []byte, err error) {
	return probe.HTTPGet(ctx, h.NetNS(), url, probe.Opts{Timeout: ProbeTimeout})
}

// DNS asks server ("ip:port") for the A records of name from inside the
// host, retrying until an answer arrives or ProbeTimeout passes.
func (h *Host) DNS(ctx context.Context, server, name string) ([]netip.Addr, error) {
	ap, err := netip.ParseAddrPort(server)
	if err != nil {
		return nil, fmt.Errorf("dns from %s: %w", h.Name, err)
	}
	addrs, _, err := probe.DNS(ctx, h.NetNS(), ap, name, dns.TypeA, probe.Opts{Timeout: ProbeTimeout})
	return addrs, err
}

// DialContext connects to address ("ip:port") over network ("tcp",
// "udp", ...) from inside the host: the socket is the host's, everything
// else is ordinary Go. A client under test dials through it:
//
//	c := myservice.NewClient(myservice.WithDialer(node2.DialContext))
func (h *Host) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	return probe.DialContext(ctx, h.NetNS(), network, address)
}

// Reachability pings every endpoint from every other one, all pairs at
// once, each with ProbeTimeout; with no endpoints, every host that has an
// address. An unreachable pair stayed silent the whole deadline. Compare
// the result with an expectation (probe.Groups, probe.NewMatrix) through
// EqualMatrix.
func (l *Lab) Reachability(ctx context.Context, endpoints ...probe.Endpoint) probe.Matrix {
	l.t.Helper()
	if len(endpoints) == 0 {
		for _, h := range l.Hosts() {
			if hasAddress(h) {
				endpoints = append(endpoints, h.Endpoint())
			}
		}
	}
	return probe.Reachability(ctx, endpoints, probe.Opts{Timeout: ProbeTimeout})
}

func hasAddress(h *Host) bool {
	for _, i := range h.Spec.Interfaces {
		if i.Address.IsValid() {
			return true
		}
	}
	return false
}
