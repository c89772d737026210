package controller

import (
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/netimpl"
	"github.com/nslab/nslab/netimpl/gre"
	"github.com/nslab/nslab/netns"
)

// Tunnel is an Ethernet-over-GRE tunnel of the host's, joined to a docker
// bridge, which would otherwise be built with Open vSwitch (ovs-vsctl
// add-port br0 gre0 -- set interface gre0 type=gre): `ip link add NAME
// type gretap local LOCAL remote REMOTE [key KEY] [csum]`, joined to
// BRIDGE when one is named. hostd's /nslab/gre takes and shows it.
type Tunnel struct {
	Name     string
	Local    string
	Remote   string
	Key      *uint32 `json:",omitempty"`
	Checksum bool
	Bridge   string `json:",omitempty"`
	// MTU: asked for (0: the kernel's rule, the path MTU to Remote less
	// the encapsulation); shown: the link's.
	MTU int `json:",omitempty"`
	// Impl is "kernel" or "userspace" (shown only).
	Impl string `json:",omitempty"`
	// Stats are the tunnel's counters (shown only).
	Stats *gre.Stats `json:",omitempty"`
}

// tunnels are the tunnels made in the host's namespace; the zero value is
// ready. They all go with the controller.
type tunnels struct {
	mu     sync.Mutex
	byName map[string]*tunnel
}

type tunnel struct {
	spec Tunnel
	t    gre.Tunnel
}

// config checks a request completely, as the API's 400 answers.
func (g Tunnel) config() (gre.Config, error) {
	cfg := gre.Config{Name: g.Name, Key: g.Key, Checksum: g.Checksum, MTU: g.MTU, Bridge: g.Bridge}
	if g.Name == "" {
		return cfg, invalid("gre: a tunnel needs a name")
	}
	var err error
	if cfg.Local, err = netip.ParseAddr(g.Local); err != nil {
		return cfg, invalid("gre %s: local %q is not an IP address", g.Name, g.Local)
	}
	if cfg.Remote, err = netip.ParseAddr(g.Remote); err != nil {
		return cfg, invalid("gre %s: remote %q is not an IP address", g.Name, g.Remote)
	}
	return cfg, nil
}

// add creates the tunnel in the host's namespace: the kernel's gretap
// where the kernel has one, else the userspace one in this process.
func (ts *tunnels) add(spec Tunnel) (Tunnel, error) {
	cfg, err := spec.config()
	if err != nil {
		return Tunnel{}, err
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if _, dup := ts.byName[spec.Name]; dup {
		return Tunnel{}, netimpl.Errorf(netimpl.KindConflict, "gre %s: a tunnel of that name exists", spec.Name)
	}
	var t gre.Tunnel
	// gre.Create works in the calling thread's namespace: make sure it is
	// the host's even if this goroutine's thread were ever another's.
	err = netns.Do(hostNS, func() (err error) {
		t, err = gre.Create(cfg)
		return err
	})
	switch {
	case errors.Is(err, unix.EEXIST):
		return Tunnel{}, netimpl.Errorf(netimpl.KindConflict, "%s", err)
	case err != nil:
		return Tunnel{}, err
	}
	if ts.byName == nil {
		ts.byName = map[string]*tunnel{}
	}
	ts.byName[spec.Name] = &tunnel{spec: spec, t: t}
	return ts.byName[spec.Name].view(), nil
}

// view is the tunnel as the API shows it, with the link's MTU read back.
func (gt *tunnel) view() Tunnel {
	v := gt.spec
	v.Impl = gt.t.Impl()
	st := gt.t.Stats()
	v.Stats = &st
	if h, err := netns.Handle(hostNS); err == nil {
		if l, err := h.LinkByName(v.Name); err == nil {
			v.MTU = l.Attrs().MTU
		}
		h.Close()
	}
	return v
}

// list shows every tunnel, sorted by name.
func (ts *tunnels) list() []Tunnel {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	out := []Tunnel{}
	for _, gt := range ts.byName {
		out = append(out, gt.view())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// remove closes one tunnel (its link goes with it).
func (ts *tunnels) remove(name string) error {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	gt, ok := ts.byName[name]
	if !ok {
		return netimpl.Errorf(netimpl.KindNotFound, "gre: no such tunnel: %s", name)
	}
	delete(ts.byName, name)
	return gt.t.Close()
}

// closeAll closes every tunnel, at shutdown.
func (ts *tunnels) closeAll() error {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	var errs []error
	for name, gt := range ts.byName {
		if err := gt.t.Close(); err != nil {
			errs = append(errs, fmt.Errorf("gre %s: %w", name, err))
		}
		delete(ts.byName, name)
	}
	return errors.Join(errs...)
}

// AddTunnel makes a tunnel (POST /nslab/gre).
func (c *Controller) AddTunnel(spec Tunnel) (Tunnel, error) { return c.tunnels.add(spec) }

// Tunnels lists the tunnels, sorted by name (GET /nslab/gre).
func (c *Controller) Tunnels() []Tunnel { return c.tunnels.list() }

// RemoveTunnel removes one (DELETE /nslab/gre/NAME).
func (c *Controller) RemoveTunnel(name string) error { return c.tunnels.remove(name) }
