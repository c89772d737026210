package labtest

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/onsi/gomega/types"

	"github.com/nslab/nslab/netns/probe"
)

// Reach succeeds when the actual namespace gets an echo reply from dst (an
// IP literal) within the deadline (ProbeTimeout; Within changes it). The
// actual value is a *Host, anything with a NetNS() method (a lab.Host), or
// a namespace path (/run/netns/..., /proc/PID/ns/net). Negated it succeeds
// only when dst stays silent for the whole deadline; a probe that could
// not be made (no such namespace, a cancelled context) fails both ways.
//
//	Expect(l.Host("node1")).To(labtest.Reach("192.168.2.10"))
//	Expect(l.Host("node1")).NotTo(labtest.Reach("10.9.9.9").Within(labtest.SilenceTimeout))
func Reach(dst string) *ReachMatcher {
	return &ReachMatcher{dst: dst, what: "reach", timeout: ProbeTimeout}
}

// ReachTCP is Reach for a TCP connection to addr ("ip:port"): it succeeds
// when a connection is made within the deadline.
func ReachTCP(addr string) *ReachMatcher {
	return &ReachMatcher{dst: addr, what: "connect over TCP to", tcp: true, timeout: ProbeTimeout}
}

// ReachMatcher is the Gomega matcher of Reach and ReachTCP.
type ReachMatcher struct {
	dst, what string
	tcp       bool
	timeout   time.Duration
	ns        string
	err       error // the probe's failure, for the message
}

var _ types.GomegaMatcher = (*ReachMatcher)(nil)

// Within sets the deadline: how long a probe retries, and how long a path
// that must stay silent is watched.
func (m *ReachMatcher) Within(d time.Duration) *ReachMatcher {
	c := *m
	c.timeout = d
	return &c
}

// Match probes from the actual namespace.
func (m *ReachMatcher) Match(actual any) (bool, error) {
	ns, ctx, err := subject(actual)
	if err != nil {
		return false, err
	}
	m.ns = ns
	ctx, cancel := stepContext(ctx, m.timeout+StepTimeout)
	defer cancel()
	o := probe.Opts{Timeout: m.timeout}
	if m.tcp {
		ap, perr := netip.ParseAddrPort(m.dst)
		if perr != nil {
			return false, fmt.Errorf("ReachTCP(%q): %w", m.dst, perr)
		}
		err = probe.TCP(ctx, ns, ap, o)
	} else {
		a, perr := netip.ParseAddr(m.dst)
		if perr != nil {
			return false, fmt.Errorf("Reach(%q): %w", m.dst, perr)
		}
		_, err = probe.Ping(ctx, ns, a, o)
	}
	m.err = err
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, probe.ErrDeadline):
		return false, nil
	}
	// Neither an answer nor a whole deadline of silence: no verdict.
	return false, err
}

func (m *ReachMatcher) FailureMessage(any) string {
	return fmt.Sprintf("expected %s to %s %s within %s: %v", m.ns, m.what, m.dst, m.timeout, m.err)
}

func (m *ReachMatcher) NegatedFailureMessage(any) string {
	return fmt.Sprintf("expected %s not to %s %s for %s, but it answered", m.ns, m.what, m.dst, m.timeout)
}

// subject is the namespace of a matcher's actual value and the context
// its probes derive from.
func subject(actual any) (string, context.Context, error) {
	switch v := actual.(type) {
	case *Host:
		return v.NetNS(), v.l.ctx, nil
	case interface{ NetNS() string }:
		return v.NetNS(), context.Background(), nil
	case string:
		return v, context.Background(), nil
	}
	return "", nil, fmt.Errorf("labtest: want a *Host, something with NetNS() or a namespace path, got %T", actual)
}

// EqualMatrix succeeds when a measured reachability matrix
// (Lab.Reachability, probe.Reachability) has the same outcome for every
// pair as want (probe.Groups, probe.NewMatrix(...).Allow(...)); its
// failure lists each differing pair with the probe's error, then both
// tables.
func EqualMatrix(want probe.Matrix) types.GomegaMatcher { return matrixMatcher{want} }

type matrixMatcher struct{ want probe.Matrix }

func (m matrixMatcher) Match(actual any) (bool, error) {
	got, ok := actual.(probe.Matrix)
	if !ok {
		return false, fmt.Errorf("EqualMatrix: want a probe.Matrix, got %T", actual)
	}
	return got.Equal(m.want), nil
}

func (m matrixMatcher) FailureMessage(actual any) string {
	return "reachability differs:\n" + actual.(probe.Matrix).Diff(m.want)
}

func (m matrixMatcher) NegatedFailureMessage(any) string {
	return "expected reachability other than:\n" + m.want.String()
}
