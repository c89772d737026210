package netns

import (
	"context"
	"errors"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// The list helpers retry dumps that the kernel interrupted because the table
// changed underneath (NLM_F_DUMP_INTR): a partial dump must never be taken as
// the truth by an assertion. Use these instead of the raw Handle calls.

const dumpTries = 10

func retryDump[T any](fn func() (T, error)) (T, error) {
	var v T
	var err error
	for i := 0; i < dumpTries; i++ {
		v, err = fn()
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			return v, err
		}
	}
	return v, err
}

// LinkList lists the links of the handle's namespace.
func LinkList(h *netlink.Handle) ([]netlink.Link, error) {
	return retryDump(h.LinkList)
}

// AddrList lists the addresses of link (nil: all links) in family.
func AddrList(h *netlink.Handle, link netlink.Link, family int) ([]netlink.Addr, error) {
	return retryDump(func() ([]netlink.Addr, error) { return h.AddrList(link, family) })
}

// RouteList lists the routes of link (nil: all) in family, main table.
func RouteList(h *netlink.Handle, link netlink.Link, family int) ([]netlink.Route, error) {
	return retryDump(func() ([]netlink.Route, error) { return h.RouteList(link, family) })
}

// NeighList lists neighbour (or, with family AF_BRIDGE, FDB) entries.
func NeighList(h *netlink.Handle, linkIndex, family int) ([]netlink.Neigh, error) {
	return retryDump(func() ([]netlink.Neigh, error) { return h.NeighList(linkIndex, family) })
}

// RetryTransient retries fn while it fails with the errors that concurrent
// link creation produces for a moment (EFAULT, ENODEV, ENOENT, EBUSY), with
// a short backoff bound by ctx. Other errors return at once.
func RetryTransient(ctx context.Context, fn func() error) error {
	backoff := time.Millisecond
	for {
		err := fn()
		if err == nil || !(errors.Is(err, unix.EFAULT) || errors.Is(err, unix.ENODEV) ||
			errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EBUSY)) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(backoff):
		}
		if backoff < 100*time.Millisecond {
			backoff *= 2
		}
	}
}

// RouteListFiltered lists the routes of family that filter selects (mask:
// netlink.RT_FILTER_*); with RT_FILTER_TABLE and table RT_TABLE_UNSPEC,
// the routes of every table.
func RouteListFiltered(h *netlink.Handle, family int, filter *netlink.Route, mask uint64) ([]netlink.Route, error) {
	return retryDump(func() ([]netlink.Route, error) { return h.RouteListFiltered(family, filter, mask) })
}

// RuleList lists the policy routing rules of family.
func RuleList(h *netlink.Handle, family int) ([]netlink.Rule, error) {
	return retryDump(func() ([]netlink.Rule, error) { return h.RuleList(family) })
}
