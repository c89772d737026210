package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/moby/moby/client"
	"github.com/vishvananda/netlink"

	"github.com/nslab/nslab/netns"
	"github.com/nslab/nslab/netns/kernel"
)

// dockerdsMoved says whether a dockerd of the lab made a network or
// started a container since: either moves what a fresh dockerd hands out
// next (its default address pools and its ephemeral host ports for -p and
// -P, both taken round-robin in memory).
func (l *Lab) dockerdsMoved(ctx context.Context, since time.Time) (bool, error) {
	for _, h := range l.dockerHosts() {
		n, err := h.allocatingEvents(ctx, since)
		if err != nil {
			return false, err
		}
		if n > 0 {
			return true, nil
		}
	}
	return false, nil
}

// allocatingEvents counts the daemon's network creates and container
// starts since (among the events it keeps in memory, the last 256).
func (h *Host) allocatingEvents(ctx context.Context, since time.Time) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, daemonTimeout)
	defer cancel()
	c, err := h.DockerClient()
	if err != nil {
		return 0, err
	}
	defer c.Close()
	ev := c.Events(ctx, client.EventsListOptions{
		Since: strconv.FormatInt(since.Unix(), 10),
		Until: strconv.FormatInt(time.Now().Unix()+1, 10),
		Filters: make(client.Filters).Add("type", "network", "container").
			Add("event", "create", "start"),
	})
	n := 0
	for {
		select {
		case m := <-ev.Messages:
			if (m.Type == "network" && m.Action == "create") || (m.Type == "container" && m.Action == "start") {
				n++
			}
		case err := <-ev.Err:
			if errors.Is(err, io.EOF) {
				return n, nil
			}
			return 0, fmt.Errorf("host %s: events: %w", h.Name, err)
		}
	}
}

// freshStart removes what would make the host's daemon start otherwise
// than at up. A dockerd that starts on the network store of an earlier
// run (network/files/local-kv.db in its data root), or finds docker0
// there already, is not a fresh one: it writes its networks' endpoint
// directories into the cluster store, and its default bridge's IPAM config
// names the gateway docker0 has, where a first start leaves it empty. So
// the network store and docker0 go (the images stay); the new docker0,
// with a MAC of its own (02:42 and random bytes, as at every first start),
// replaces the old one in the baseline (renewBridge).
func (h *Host) freshStart() error {
	if h.lab.Runtime() == RuntimeDockerd {
		s, err := h.dockerdSpec()
		if err != nil {
			return err
		}
		if err := os.Remove(filepath.Join(s.dataRoot(), "network", "files", "local-kv.db")); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("host %s: %w", h.Name, err)
		}
	}
	if err := deleteLink(h.NetNS(), dockerBridge); err != nil {
		return fmt.Errorf("host %s: %w", h.Name, err)
	}
	return nil
}

// dockerBridge is the default bridge dockerd makes.
const dockerBridge = "docker0"

// deleteLink deletes the named link of the namespace at pin, if it is there.
func deleteLink(pin, name string) error {
	h, err := netns.Handle(pin)
	if err != nil {
		return err
	}
	defer h.Close()
	l, err := h.LinkByName(name)
	var nf netlink.LinkNotFoundError
	if errors.As(err, &nf) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("link %s: %w", name, err)
	}
	if err := h.LinkDel(l); err != nil {
		return fmt.Errorf("delete link %s: %w", name, err)
	}
	return nil
}

// renewBridge puts the host's docker0, as the kernel has it now, in base
// in place of the one before.
func (h *Host) renewBridge(base *nsState) error {
	links, err := kernel.Links(h.NetNS())
	if err != nil {
		return err
	}
	addrs, err := kernel.Addrs(h.NetNS(), netlink.FAMILY_ALL)
	if err != nil {
		return err
	}
	base.Links = slices.DeleteFunc(base.Links, func(l kernel.Link) bool { return l.Name == dockerBridge })
	for _, l := range links {
		if l.Name == dockerBridge {
			base.Links = append(base.Links, l)
		}
	}
	base.Addrs = slices.DeleteFunc(base.Addrs, func(a kernel.Addr) bool { return a.Dev == dockerBridge })
	for _, a := range addrs {
		if a.Dev == dockerBridge {
			base.Addrs = append(base.Addrs, a)
		}
	}
	return nil
}
