package lab

import (
	"context"
	"fmt"
	"sort"

	"github.com/vishvananda/netlink"

	"github.com/nslab/nslab/netns"
	"github.com/nslab/nslab/netns/kernel"
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

// LinkDescription is one link of a namespace, with its IPv4 addresses.
type LinkDescription = kernel.Link

// RouteDescription is one IPv4 route of a namespace's main table.
type RouteDescription = kernel.Route

// Describe reads the lab from the kernel.
func (l *Lab) Describe(ctx context.Context) (*Description, error) {
	l.mu.Lock()
	d := &Description{ID: l.ID(), Name: l.topo.Name, File: l.topo.File, StateDir: l.dir, Owner: l.state.Owner, State: l.state.State}
	l.mu.Unlock()
	fpin := netns.Path(l.ID() + "-" + fabricPinName)
	links, err := kernel.Links(fpin)
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
		if hd.Links, err = kernel.Links(hd.NetNS); err != nil {
			return nil, fmt.Errorf("lab %s: host %s: %w", l.ID(), h.Name, err)
		}
		if hd.Routes, err = kernel.Routes(hd.NetNS, netlink.FAMILY_V4, kernel.MainTable); err != nil {
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

// Comparable returns d without what differs between a lab fresh from up
// and the same lab after Reset (or two fresh labs of one topology): the
// daemons' pids, the links' ifindexes, and docker0's MAC — a daemon that
// starts makes docker0 with a MAC of its own (02:42 and random bytes, as
// dockerd's), and Reset starts the daemons again (see reset_daemons.go).
func (d Description) Comparable() Description {
	hosts := make([]HostDescription, len(d.Hosts))
	for i, h := range d.Hosts {
		h.HostdPID = 0
		links := make([]LinkDescription, len(h.Links))
		for j, lk := range h.Links {
			lk.Index, lk.Peer = 0, 0
			if lk.Name == dockerBridge {
				lk.MAC = ""
			}
			links[j] = lk
		}
		h.Links = links
		hosts[i] = h
	}
	d.Hosts = hosts
	return d
}
