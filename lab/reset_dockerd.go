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
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/vishvananda/netlink"

	"github.com/nslab/nslab/netns"
	"github.com/nslab/nslab/netns/kernel"
)

// dockerdsMoved says whether a dockerd of the lab moved what a fresh
// dockerd hands out next since: its default address pools (a network was
// made: the next one gets the pool after it) or its ephemeral host ports
// (a container published a port without naming the host's: the next gets
// the port after it). Both are taken round-robin in memory, and nothing
// short of a start puts them back. Container addresses are not: the
// lowest free one goes first, and a removed container frees its own.
func (l *Lab) dockerdsMoved(ctx context.Context, since time.Time) (bool, error) {
	for _, h := range l.dockerHosts() {
		moved, err := h.dockerdMoved(ctx, since)
		if err != nil || moved {
			return moved, err
		}
	}
	return false, nil
}

// dockerdMoved is dockerdsMoved for one host: among the events the daemon
// keeps in memory (the last 256), a network create, or the start of a
// container that took an ephemeral port (or is gone, so that nobody can
// tell: it counts as one that did).
func (h *Host) dockerdMoved(ctx context.Context, since time.Time) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, daemonTimeout)
	defer cancel()
	c, err := h.DockerClient()
	if err != nil {
		return false, err
	}
	defer c.Close()
	started, networks, err := allocatingEvents(ctx, c, since)
	if err != nil {
		return false, fmt.Errorf("host %s: events: %w", h.Name, err)
	}
	if networks > 0 {
		return true, nil
	}
	for _, id := range started {
		r, err := c.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
		if cerrdefs.IsNotFound(err) {
			return true, nil
		}
		if err != nil {
			return false, fmt.Errorf("host %s: inspect container %s: %w", h.Name, id, err)
		}
		if tookEphemeralPort(r.Container.HostConfig) {
			return true, nil
		}
	}
	return false, nil
}

// allocatingEvents returns the containers started and the count of the
// networks made since.
func allocatingEvents(ctx context.Context, c *client.Client, since time.Time) (started []string, networks int, err error) {
	// Until is now, to the nanosecond: an until still ahead of the
	// daemon's clock keeps the stream open until it passes (dockerd's
	// events API), which cost every reset up to a second per host.
	ev := c.Events(ctx, client.EventsListOptions{
		Since: strconv.FormatInt(since.Unix(), 10),
		Until: EventsTimestamp(time.Now()),
		Filters: make(client.Filters).Add("type", "network", "container").
			Add("event", "create", "start"),
	})
	for {
		select {
		case m := <-ev.Messages:
			switch {
			case m.Type == "network" && m.Action == "create":
				networks++
			case m.Type == "container" && m.Action == "start" && !slices.Contains(started, m.Actor.ID):
				started = append(started, m.Actor.ID)
			}
		case err := <-ev.Err:
			if errors.Is(err, io.EOF) {
				return started, networks, nil
			}
			return nil, 0, err
		}
	}
}

// tookEphemeralPort says whether a container's ports asked the daemon for
// host ports of its choosing: -P, -p without a host port, or with a range
// of them (each range keeps its own round).
func tookEphemeralPort(hc *container.HostConfig) bool {
	if hc == nil {
		return false
	}
	if hc.PublishAllPorts {
		return true
	}
	for _, bindings := range hc.PortBindings {
		for _, b := range bindings {
			if b.HostPort == "" || b.HostPort == "0" || strings.Contains(b.HostPort, "-") {
				return true
			}
		}
	}
	return false
}

// EventsTimestamp is t as the Docker events API takes it for since and
// until: seconds.nanoseconds. An until still ahead of the daemon's clock
// keeps the stream open until it passes.
func EventsTimestamp(t time.Time) string { return fmt.Sprintf("%d.%09d", t.Unix(), t.Nanosecond()) }

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
	return netns.DeleteLink(h, name)
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
