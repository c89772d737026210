package main

import (
	"context"
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"github.com/moby/moby/client"

	"github.com/nslab/nslab/check"
	"github.com/nslab/nslab/lab"
)

// drawing is what `nslab graph` draws, in any format: the topology's
// segments and hosts, each docker host's networks and containers as its
// daemon reports them (or, without a daemon, the topology's containers),
// and the failures of a checks report.
type drawing struct {
	topo    *lab.Topology
	id      string                 // the lab's id; "" for a file
	daemons map[string]*daemonView // by host: what its daemon reports
	failed  []failure
	// extra are nodes for addresses no host or container holds.
	extra []string
}

// daemonView is what one docker host's daemon reports.
type daemonView struct {
	networks   []daemonNetwork
	containers []daemonContainer
}

type daemonNetwork struct {
	name, driver, scope string
	subnets             []string
}

type daemonContainer struct {
	name, image, state string
	mode               string // HostConfig.NetworkMode
	// endpoints are the container's networks and its address on each.
	endpoints []daemonEndpoint
}

type daemonEndpoint struct {
	network string
	addr    netip.Addr
}

// failure is a failed check: an edge between two nodes, or a node.
type failure struct {
	from, to string // node ids; to "" for a node alone
	label    string
}

func fromTopology(t *lab.Topology, id string) *drawing {
	return &drawing{topo: t, id: id, daemons: map[string]*daemonView{}}
}

// title names the drawing: lab id and topology name, whichever are known.
func (d *drawing) title() string {
	var parts []string
	if d.id != "" {
		parts = append(parts, "lab "+d.id)
	}
	if d.topo.Name != "" {
		parts = append(parts, d.topo.Name)
	}
	if len(parts) == 0 {
		return "topology"
	}
	return strings.Join(parts, ": ")
}

// Node ids, the same in every format.
func segmentNode(name string) string         { return "segment/" + name }
func hostNode(name string) string            { return "host/" + name }
func containerNode(host, name string) string { return "container/" + host + "/" + name }
func networkNode(host, name string) string   { return "network/" + host + "/" + name }
func addressNode(a string) string            { return "address/" + a }

func (v *daemonView) sort() {
	sort.Slice(v.networks, func(i, j int) bool { return v.networks[i].name < v.networks[j].name })
	sort.Slice(v.containers, func(i, j int) bool { return v.containers[i].name < v.containers[j].name })
	for _, c := range v.containers {
		sort.Slice(c.endpoints, func(i, j int) bool { return c.endpoints[i].network < c.endpoints[j].network })
	}
}

// daemonOf asks a docker host's daemon for its networks and containers.
func daemonOf(ctx context.Context, h *lab.Host) (*daemonView, error) {
	c, err := h.DockerClient()
	if err != nil {
		return nil, err
	}
	defer c.Close()
	nets, err := c.NetworkList(ctx, client.NetworkListOptions{})
	if err != nil {
		return nil, fmt.Errorf("network ls: %w", err)
	}
	ctrs, err := c.ContainerList(ctx, client.ContainerListOptions{All: true})
	if err != nil {
		return nil, fmt.Errorf("ps: %w", err)
	}
	v := &daemonView{}
	for _, n := range nets.Items {
		dn := daemonNetwork{name: n.Name, driver: n.Driver, scope: n.Scope}
		for _, cfg := range n.IPAM.Config {
			if cfg.Subnet.IsValid() {
				dn.subnets = append(dn.subnets, cfg.Subnet.String())
			}
		}
		v.networks = append(v.networks, dn)
	}
	for _, s := range ctrs.Items {
		dc := daemonContainer{image: s.Image, state: string(s.State), mode: s.HostConfig.NetworkMode}
		if len(s.Names) > 0 {
			dc.name = strings.TrimPrefix(s.Names[0], "/")
		}
		if s.NetworkSettings != nil {
			for name, ep := range s.NetworkSettings.Networks {
				de := daemonEndpoint{network: name}
				if ep != nil {
					de.addr = ep.IPAddress
				}
				dc.endpoints = append(dc.endpoints, de)
			}
		}
		v.containers = append(v.containers, dc)
	}
	v.sort()
	return v, nil
}

// addFailures turns a report's failed checks into failures of the drawing:
// an edge between a path's two ends, or the node a check looked at.
func (d *drawing) addFailures(r *check.Report) {
	for _, res := range r.Results {
		if res.Passed {
			continue
		}
		label := "FAIL: " + res.Name
		switch {
		case res.From != "" && res.To != "":
			d.failed = append(d.failed, failure{from: d.nodeOf(res.From), to: d.nodeOf(res.To), label: label})
		case len(res.Endpoints) > 0:
			d.failed = append(d.failed, failure{from: d.nodeOf(res.Endpoints[0]), label: label})
		}
	}
}

// nodeOf finds the node a check's endpoint or address names: HOST,
// HOST/CONTAINER (an "@NAME" choice dropped), or an address a host's
// interface or a container holds; else a node of the address's own.
func (d *drawing) nodeOf(ref string) string {
	ref, _, _ = strings.Cut(ref, "@")
	a, err := netip.ParseAddr(ref)
	if err != nil {
		if host, ctr, ok := strings.Cut(ref, "/"); ok {
			return containerNode(host, ctr)
		}
		return hostNode(ref)
	}
	for _, h := range d.topo.Hosts {
		for _, i := range h.Interfaces {
			if i.Address.IsValid() && i.Address.Addr() == a {
				return hostNode(h.Name)
			}
		}
		if v := d.daemons[h.Name]; v != nil {
			for _, c := range v.containers {
				for _, e := range c.endpoints {
					if e.addr == a {
						return containerNode(h.Name, c.name)
					}
				}
			}
		}
	}
	node := addressNode(a.String())
	for _, x := range d.extra {
		if x == node {
			return node
		}
	}
	d.extra = append(d.extra, node)
	return node
}
