package lab

import (
	"context"
	"fmt"
	"sort"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/netns"
)

// Description is what `nslab inspect` shows: the lab as the kernel has it,
// read through netlink in each namespace, not from the lab's bookkeeping.
type Description struct {
	ID       string            `json:"id"`
	Name     string            `json:"name,omitempty"`
	File     string            `json:"file,omitempty"`
	StateDir string            `json:"stateDir"`
	Owner    int               `json:"owner"`
	State    string            `json:"state"`
	Fabric   FabricDescription `json:"fabric"`
	Hosts    []HostDescription `json:"hosts"`
}

// FabricDescription is the fabric namespace and its bridges.
type FabricDescription struct {
	NetNS   string              `json:"netns"`
	Inode   uint64              `json:"inode"`
	Bridges []BridgeDescription `json:"bridges"`
}

// BridgeDescription is one segment's bridge and the links enslaved to it.
type BridgeDescription struct {
	Name  string   `json:"name"`
	Up    bool     `json:"up"`
	Ports []string `json:"ports"`
}

// HostDescription is one host's namespace as the kernel reports it.
type HostDescription struct {
	Name     string             `json:"name"`
	Kind     string             `json:"kind"`
	NetNS    string             `json:"netns"`
	Inode    uint64             `json:"inode"`
	HostdPID int                `json:"hostdPid,omitempty"`
	Socket   string             `json:"socket,omitempty"`
	Links    []LinkDescription  `json:"links"`
	Routes   []RouteDescription `json:"routes"`
}

// LinkDescription is one link of a namespace.
type LinkDescription struct {
	Name      string   `json:"name"`
	Kind      string   `json:"kind"`
	MAC       string   `json:"mac,omitempty"`
	Master    string   `json:"master,omitempty"`
	Up        bool     `json:"up"`
	Addresses []string `json:"addresses,omitempty"`
}

// RouteDescription is one IPv4 route of a namespace's main table.
type RouteDescription struct {
	Dst   string `json:"dst"`
	Gw    string `json:"gw,omitempty"`
	Dev   string `json:"dev,omitempty"`
	Src   string `json:"src,omitempty"`
	Scope string `json:"scope"`
}

// Describe reads the lab from the kernel.
func (l *Lab) Describe(ctx context.Context) (*Description, error) {
	l.mu.Lock()
	d := &Description{ID: l.ID(), Name: l.topo.Name, File: l.topo.File, StateDir: l.dir, Owner: l.state.Owner, State: l.state.State}
	l.mu.Unlock()
	fpin := netns.Path(l.ID() + "-" + fabricPinName)
	links, err := readLinks(fpin)
	if err != nil {
		return nil, fmt.Errorf("lab %s: fabric: %w", l.ID(), err)
	}
	d.Fabric = FabricDescription{NetNS: fpin, Inode: inodeOf(fpin)}
	for _, b := range links {
		if b.Kind != "bridge" {
			continue
		}
		bd := BridgeDescription{Name: b.Name, Up: b.Up, Ports: []string{}}
		for _, p := range links {
			if p.Master == b.Name {
				bd.Ports = append(bd.Ports, p.Name)
			}
		}
		sort.Strings(bd.Ports)
		d.Fabric.Bridges = append(d.Fabric.Bridges, bd)
	}
	for _, h := range l.hosts {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hd := HostDescription{Name: h.Name, Kind: h.Spec.Kind, NetNS: h.NetNS(), Inode: inodeOf(h.NetNS()), HostdPID: h.HostdPID(), Socket: h.Socket()}
		if hd.Links, err = readLinks(hd.NetNS); err != nil {
			return nil, fmt.Errorf("lab %s: host %s: %w", l.ID(), h.Name, err)
		}
		if hd.Routes, err = readRoutes(hd.NetNS); err != nil {
			return nil, fmt.Errorf("lab %s: host %s: %w", l.ID(), h.Name, err)
		}
		d.Hosts = append(d.Hosts, hd)
	}
	return d, nil
}

func inodeOf(path string) uint64 {
	ino, _ := netns.Inode(path)
	return ino
}

// readLinks dumps the links of the namespace at pin with their IPv4
// addresses, sorted by name.
func readLinks(pin string) ([]LinkDescription, error) {
	h, err := netns.Handle(pin)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	links, err := netns.LinkList(h)
	if err != nil {
		return nil, fmt.Errorf("links: %w", err)
	}
	addrs, err := netns.AddrList(h, nil, netlink.FAMILY_V4)
	if err != nil {
		return nil, fmt.Errorf("addresses: %w", err)
	}
	names := map[int]string{}
	for _, l := range links {
		names[l.Attrs().Index] = l.Attrs().Name
	}
	byIndex := map[int][]string{}
	for _, a := range addrs {
		byIndex[a.LinkIndex] = append(byIndex[a.LinkIndex], a.IPNet.String())
	}
	out := make([]LinkDescription, 0, len(links))
	for _, l := range links {
		a := l.Attrs()
		out = append(out, LinkDescription{
			Name:      a.Name,
			Kind:      l.Type(),
			MAC:       a.HardwareAddr.String(),
			Master:    names[a.MasterIndex],
			Up:        a.Flags&unix.IFF_UP != 0 || a.RawFlags&unix.IFF_UP != 0,
			Addresses: byIndex[a.Index],
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// readRoutes dumps the IPv4 routes of the main table of the namespace at pin.
func readRoutes(pin string) ([]RouteDescription, error) {
	h, err := netns.Handle(pin)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	links, err := netns.LinkList(h)
	if err != nil {
		return nil, fmt.Errorf("links: %w", err)
	}
	names := map[int]string{}
	for _, l := range links {
		names[l.Attrs().Index] = l.Attrs().Name
	}
	routes, err := netns.RouteList(h, nil, netlink.FAMILY_V4)
	if err != nil {
		return nil, fmt.Errorf("routes: %w", err)
	}
	out := make([]RouteDescription, 0, len(routes))
	for _, r := range routes {
		rd := RouteDescription{Dst: "default", Dev: names[r.LinkIndex], Scope: r.Scope.String()}
		if r.Dst != nil {
			if ones, _ := r.Dst.Mask.Size(); ones != 0 || !r.Dst.IP.IsUnspecified() {
				rd.Dst = r.Dst.String()
			}
		}
		if r.Gw != nil {
			rd.Gw = r.Gw.String()
		}
		if r.Src != nil {
			rd.Src = r.Src.String()
		}
		out = append(out, rd)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Dst < out[j].Dst })
	return out, nil
}
