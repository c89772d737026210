package check

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"sort"
	"strings"
	"sync"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/netns"
	"github.com/nslab/nslab/netns/kernel"
)

// An endpoint is where a check looks from or at: a host's namespace
// ("node1"), a container's ("node1/cm01", found through the host's daemon),
// a namespace a student pinned in a host's own /var/run/netns
// ("netns:host1/test1", seed 001's `ip netns add test1` typed in host1), or
// one pinned in the machine's /run/netns ("netns:{lab}-host1-cm01", {lab}
// standing for the lab's id, which prefixes every name there).
type endpoint struct {
	Host, Container string
	NetNS           string // the pin name, {lab} not yet expanded; in Host's /var/run/netns when Host is set
}

func (e endpoint) String() string {
	switch {
	case e.NetNS != "" && e.Host != "":
		return "netns:" + e.Host + "/" + e.NetNS
	case e.NetNS != "":
		return "netns:" + e.NetNS
	case e.Container != "":
		return e.Host + "/" + e.Container
	}
	return e.Host
}

func parseEndpoint(s string) (endpoint, error) {
	if name, ok := strings.CutPrefix(s, "netns:"); ok {
		if host, pin, inHost := strings.Cut(name, "/"); inHost && host != "" && pin != "" && !strings.Contains(pin, "/") {
			return endpoint{Host: host, NetNS: pin}, nil
		}
		if !strings.HasPrefix(name, labToken+"-") || len(name) == len(labToken)+1 || strings.Contains(name, "/") {
			return endpoint{}, fmt.Errorf("%q: a pinned namespace is netns:HOST/NAME (in the host's /var/run/netns) or netns:%s-NAME (the machine's /run/netns, the lab's id before its name)", s, labToken)
		}
		return endpoint{NetNS: name}, nil
	}
	host, ctr, isCtr := strings.Cut(s, "/")
	switch {
	case host == "":
		return endpoint{}, fmt.Errorf("%q: want HOST, HOST/CONTAINER, netns:HOST/NAME or netns:%s-NAME", s, labToken)
	case isCtr && (ctr == "" || strings.Contains(ctr, "/")):
		return endpoint{}, fmt.Errorf("%q: want HOST/CONTAINER", s)
	}
	return endpoint{Host: host, Container: ctr}, nil
}

// labToken stands for the lab's id in pinned namespace names.
const labToken = "{lab}"

// A target is what a check reaches: an IP address, or an endpoint's
// address (its first interface's for a host, the one on the network it
// shares with the prober for a container), "@NAME" choosing the interface
// or network.
type target struct {
	IP     netip.Addr
	At     endpoint
	Select string
}

func (t target) String() string {
	if t.IP.IsValid() {
		return t.IP.String()
	}
	if t.Select != "" {
		return t.At.String() + "@" + t.Select
	}
	return t.At.String()
}

func parseTarget(s string) (target, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		if !a.Is4() {
			return target{}, fmt.Errorf("%q: only IPv4 addresses", s)
		}
		return target{IP: a}, nil
	}
	at, sel, _ := strings.Cut(s, "@")
	e, err := parseEndpoint(at)
	if err != nil {
		return target{}, fmt.Errorf("%w, or an IPv4 address", err)
	}
	return target{At: e, Select: sel}, nil
}

// env is what the checks of one run share: the lab, a Docker API client
// per docker host, and the namespaces pinned inside hosts, held open.
type env struct {
	lab *lab.Lab

	mu      sync.Mutex
	clients map[string]*client.Client
	pins    map[string]*os.File // "host/name" -> the pin opened in the host
}

func newEnv(l *lab.Lab) *env {
	return &env{lab: l, clients: map[string]*client.Client{}, pins: map[string]*os.File{}}
}

func (e *env) close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, c := range e.clients {
		c.Close()
	}
	for _, f := range e.pins {
		f.Close()
	}
}

// hostPin returns a path, valid on the machine, of a namespace pinned in
// a host's own /var/run/netns: the pin opened inside the host and held
// until the run ends.
func (e *env) hostPin(host, name string) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	f, ok := e.pins[host+"/"+name]
	if !ok {
		h, err := e.lab.Host(host)
		if err != nil {
			return "", err
		}
		if f, err = h.Open("/var/run/netns/" + name); err != nil {
			return "", err
		}
		e.pins[host+"/"+name] = f
	}
	return fmt.Sprintf("/proc/self/fd/%d", f.Fd()), nil
}

// docker returns the Docker API client of a docker host.
func (e *env) docker(host string) (*client.Client, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if c, ok := e.clients[host]; ok {
		return c, nil
	}
	h, err := e.lab.Host(host)
	if err != nil {
		return nil, err
	}
	c, err := h.DockerClient()
	if err != nil {
		return nil, err
	}
	e.clients[host] = c
	return c, nil
}

// container inspects a container through its host's daemon.
func (e *env) container(ctx context.Context, host, name string) (container.InspectResponse, error) {
	c, err := e.docker(host)
	if err != nil {
		return container.InspectResponse{}, err
	}
	r, err := c.ContainerInspect(ctx, name, client.ContainerInspectOptions{})
	if err != nil {
		return container.InspectResponse{}, fmt.Errorf("%s/%s: %w", host, name, err)
	}
	return r.Container, nil
}

// netns returns the path of an endpoint's network namespace.
func (e *env) netns(ctx context.Context, ep endpoint) (string, error) {
	switch {
	case ep.NetNS != "" && ep.Host != "":
		return e.hostPin(ep.Host, ep.NetNS)
	case ep.NetNS != "":
		p := netns.Path(e.expand(ep.NetNS))
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s: %w", ep, err)
		}
		return p, nil
	case ep.Container != "":
		c, err := e.container(ctx, ep.Host, ep.Container)
		if err != nil {
			return "", err
		}
		if c.State == nil || !c.State.Running || c.State.Pid <= 0 {
			return "", fmt.Errorf("%s is not running", ep)
		}
		return fmt.Sprintf("/proc/%d/ns/net", c.State.Pid), nil
	}
	h, err := e.lab.Host(ep.Host)
	if err != nil {
		return "", err
	}
	return h.NetNS(), nil
}

func (e *env) expand(name string) string { return strings.ReplaceAll(name, labToken, e.lab.ID()) }

// address returns the IPv4 address a target has, seen from a prober at
// from.
func (e *env) address(ctx context.Context, t target, from endpoint) (netip.Addr, error) {
	if t.IP.IsValid() {
		return t.IP, nil
	}
	if t.At.Container != "" {
		return e.containerAddress(ctx, t, from)
	}
	ns, err := e.netns(ctx, t.At)
	if err != nil {
		return netip.Addr{}, err
	}
	iface := t.Select
	if iface == "" && t.At.Host != "" && t.At.NetNS == "" {
		// A host's address is its first interface's, as the topology lists them.
		if h, err := e.lab.Host(t.At.Host); err == nil && len(h.Spec.Interfaces) > 0 {
			iface = h.Spec.Interfaces[0].Name
		}
	}
	return firstIPv4(ns, iface, t)
}

// firstIPv4 reads the first IPv4 address of iface ("": of any interface but
// lo) in the namespace at ns.
func firstIPv4(ns, iface string, t target) (netip.Addr, error) {
	links, err := kernel.Links(ns)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%s: %w", t, err)
	}
	for _, l := range links {
		if (iface != "" && l.Name != iface) || l.Name == "lo" {
			continue
		}
		for _, cidr := range l.Addrs {
			if p, err := netip.ParsePrefix(cidr); err == nil && p.Addr().Is4() {
				return p.Addr(), nil
			}
		}
	}
	if iface != "" {
		return netip.Addr{}, fmt.Errorf("%s: no IPv4 address on %s", t, iface)
	}
	return netip.Addr{}, fmt.Errorf("%s has no IPv4 address", t)
}

// containerAddress is the address the container's daemon reports on the
// network asked for, else on a network the prober is on too, else on its
// own network mode's, else on the first by name.
func (e *env) containerAddress(ctx context.Context, t target, from endpoint) (netip.Addr, error) {
	c, err := e.container(ctx, t.At.Host, t.At.Container)
	if err != nil {
		return netip.Addr{}, err
	}
	nets := map[string]netip.Addr{}
	if c.NetworkSettings != nil {
		for name, ep := range c.NetworkSettings.Networks {
			if ep != nil && ep.IPAddress.IsValid() {
				nets[name] = ep.IPAddress
			}
		}
	}
	var names []string
	for n := range nets {
		names = append(names, n)
	}
	sort.Strings(names)
	if t.Select != "" {
		if a, ok := nets[t.Select]; ok {
			return a, nil
		}
		return netip.Addr{}, fmt.Errorf("%s is on no network %s (its networks: %s)", t.At, t.Select, orNone(names))
	}
	if len(names) == 0 {
		return netip.Addr{}, fmt.Errorf("%s has no IPv4 address on any network", t.At)
	}
	if from.Container != "" {
		if fc, err := e.container(ctx, from.Host, from.Container); err == nil && fc.NetworkSettings != nil {
			for _, n := range names {
				if _, shared := fc.NetworkSettings.Networks[n]; shared {
					return nets[n], nil
				}
			}
		}
	}
	if c.HostConfig != nil {
		mode := string(c.HostConfig.NetworkMode)
		if mode == "default" {
			mode = "bridge"
		}
		if a, ok := nets[mode]; ok {
			return a, nil
		}
	}
	return nets[names[0]], nil
}

func orNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}
