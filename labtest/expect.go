package labtest

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/nslab/nslab/netns/probe"
)

// ExpectPing requires an echo reply from dst to pings sent from inside the
// namespace at ns (a pin or /proc/PID/ns/net) within ProbeTimeout. A Ginkgo
// helper: it fails the running spec.
func ExpectPing(ns, dst string) {
	GinkgoHelper()
	a := netip.MustParseAddr(dst)
	ctx, cancel := StepContext(ProbeTimeout + StepTimeout)
	defer cancel()
	r, err := probe.Ping(ctx, ns, a, probe.Opts{Timeout: ProbeTimeout})
	Expect(err).NotTo(HaveOccurred())
	Expect(r.From).To(Equal(a), "the reply to a ping of %s came from elsewhere", dst)
}

// ExpectNoPing requires that dst stays silent to pings from inside the
// namespace at ns for the whole of SilenceTimeout. A Ginkgo helper: it
// fails the running spec.
func ExpectNoPing(ns, dst string) {
	GinkgoHelper()
	ExpectSilent(NoPing(ns, dst))
}

// Silence is one path that must stay closed: run with a context, it
// returns nil only when nothing answered for the whole of SilenceTimeout,
// and otherwise an error that names the path (source namespace and
// destination).
type Silence func(ctx context.Context) error

// NoPing is the path from inside the namespace at ns to dst for pings:
// no echo reply may come back.
func NoPing(ns, dst string) Silence {
	a := netip.MustParseAddr(dst)
	return func(ctx context.Context) error {
		return probe.ExpectUnreachable(ctx, ns, a, probe.Opts{Timeout: SilenceTimeout})
	}
}

// NoTCP is the path from inside the namespace at ns to dst for a TCP
// connection: no connection may be established for the whole window
// (probe.TCP tries again after a refusal, as a server may be starting, so
// a refused port counts as closed, as it always did for the specs).
func NoTCP(ns string, dst netip.AddrPort) Silence {
	return func(ctx context.Context) error {
		err := probe.TCP(ctx, ns, dst, probe.Opts{Timeout: SilenceTimeout})
		switch {
		case err == nil:
			return fmt.Errorf("tcp %s from %s: want no answer in %s, got a connection", dst, ns, SilenceTimeout)
		case errors.Is(err, probe.ErrDeadline):
			return nil
		default:
			return fmt.Errorf("tcp %s from %s: want silence for %s: %w", dst, ns, SilenceTimeout, err)
		}
	}
}

// ExpectSilent requires every path of paths to stay closed. They wait at
// the same time, each for its whole SilenceTimeout, so n of them take one
// window rather than n; the failure lists every path that answered, each
// by its own error. A Ginkgo helper: it fails the running spec.
func ExpectSilent(paths ...Silence) {
	GinkgoHelper()
	ctx, cancel := StepContext(SilenceTimeout + StepTimeout)
	defer cancel()
	errs := make([]error, len(paths))
	var wg sync.WaitGroup
	for i, p := range paths {
		wg.Go(func() { errs[i] = p(ctx) })
	}
	wg.Wait()
	Expect(errors.Join(errs...)).To(Succeed())
}
