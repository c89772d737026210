package probe

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
)

// ExpectReachable returns nil when dst answers a ping from inside the
// namespace at ns within the default deadline (Opts{}), and Ping's error
// otherwise. With Gomega: Expect(probe.ExpectReachable(ctx, ns, dst)).To(Succeed()).
func ExpectReachable(ctx context.Context, ns string, dst netip.Addr) error {
	_, err := Ping(ctx, ns, dst, Opts{})
	return err
}

// ExpectUnreachable returns nil only when dst stayed silent for the whole
// deadline of o: it fails as soon as any echo reply arrives, and also when
// the check could not be made (no such namespace, ctx ended before the
// deadline), because silence was then never observed.
func ExpectUnreachable(ctx context.Context, ns string, dst netip.Addr, o Opts) error {
	o = o.withDefaults()
	r, err := Ping(ctx, ns, dst, o)
	if err == nil {
		return fmt.Errorf("ping %s from %s: want no reply in %s, got one from %s (seq %d, rtt %s, ttl %d)",
			dst, ns, o.Timeout, r.From, r.Seq, r.RTT, r.TTL)
	}
	if errors.Is(err, ErrDeadline) {
		return nil
	}
	return fmt.Errorf("cannot tell whether %s is unreachable: %w", dst, err)
}
