package hostd

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"sort"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/netimpl/gre"
	"github.com/nslab/nslab/netns"
)

// The /nslab/ endpoints are hostd's own, outside the Docker API: what a
// virtual host offers beyond dockerd, such as Ethernet-over-GRE tunnels
// joined to a docker bridge, which would otherwise be built with Open
// vSwitch (ovs-vsctl add-port br0 gre0 -- set interface gre0 type=gre).
func (s *server) nslabRoutes() {
	s.handle("GET /nslab/gre", s.greList)
	s.handle("POST /nslab/gre", s.greCreate)
	s.handle("DELETE /nslab/gre/{name}", s.greDelete)
}

// GRETunnel is a gretap tunnel as POST /nslab/gre takes it and the other
// /nslab/gre endpoints show it: `ip link add NAME type gretap local LOCAL
// remote REMOTE [key KEY] [csum]`, joined to BRIDGE when one is named.
type GRETunnel struct {
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

// greTunnels are the tunnels hostd made in its host's namespace; the zero
// value is ready. They all go at shutdown.
type greTunnels struct {
	mu     sync.Mutex
	byName map[string]*greTunnel
}

type greTunnel struct {
	spec GRETunnel
	t    gre.Tunnel
}

// config checks a request completely, as the API's 400 answers.
func (g GRETunnel) config() (gre.Config, error) {
	cfg := gre.Config{Name: g.Name, Key: g.Key, Checksum: g.Checksum, MTU: g.MTU, Bridge: g.Bridge}
	if g.Name == "" {
		return cfg, badRequest("gre: a tunnel needs a name")
	}
	var err error
	if cfg.Local, err = netip.ParseAddr(g.Local); err != nil {
		return cfg, badRequest("gre %s: local %q is not an IP address", g.Name, g.Local)
	}
	if cfg.Remote, err = netip.ParseAddr(g.Remote); err != nil {
		return cfg, badRequest("gre %s: remote %q is not an IP address", g.Name, g.Remote)
	}
	return cfg, nil
}

// add creates the tunnel in the host's namespace: the kernel's gretap
// where the kernel has one, else the userspace one in this process.
func (ts *greTunnels) add(spec GRETunnel) (GRETunnel, error) {
	cfg, err := spec.config()
	if err != nil {
		return GRETunnel{}, err
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if _, dup := ts.byName[spec.Name]; dup {
		return GRETunnel{}, conflict("gre %s: a tunnel of that name exists", spec.Name)
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
		return GRETunnel{}, conflict("%s", err)
	case err != nil:
		return GRETunnel{}, err
	}
	if ts.byName == nil {
		ts.byName = map[string]*greTunnel{}
	}
	ts.byName[spec.Name] = &greTunnel{spec: spec, t: t}
	return ts.byName[spec.Name].view(), nil
}

// view is the tunnel as the API shows it, with the link's MTU read back.
func (gt *greTunnel) view() GRETunnel {
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
func (ts *greTunnels) list() []GRETunnel {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	out := []GRETunnel{}
	for _, gt := range ts.byName {
		out = append(out, gt.view())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// remove closes one tunnel (its link goes with it).
func (ts *greTunnels) remove(name string) error {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	gt, ok := ts.byName[name]
	if !ok {
		return notFound("gre: no such tunnel: %s", name)
	}
	delete(ts.byName, name)
	return gt.t.Close()
}

// closeAll closes every tunnel, at shutdown.
func (ts *greTunnels) closeAll() error {
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

func (s *server) greList(w http.ResponseWriter, r *http.Request) error {
	return writeJSON(w, http.StatusOK, s.d.gre.list())
}

func (s *server) greCreate(w http.ResponseWriter, r *http.Request) error {
	var req GRETunnel
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	t, err := s.d.gre.add(req)
	if err != nil {
		return err
	}
	s.log.Printf("gre %s: local %s remote %s bridge %q: %s, mtu %d", t.Name, t.Local, t.Remote, t.Bridge, t.Impl, t.MTU)
	return writeJSON(w, http.StatusCreated, t)
}

func (s *server) greDelete(w http.ResponseWriter, r *http.Request) error {
	if err := s.d.gre.remove(r.PathValue("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
