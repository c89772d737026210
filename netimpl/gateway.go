package netimpl

import (
	"fmt"
	"sort"

	"github.com/vishvananda/netlink"
)

// GatewayNetwork is the bridge network libnetwork makes for overlay
// containers' way out; its endpoints provide a default route only as a
// last resort.
const GatewayNetwork = "docker_gwbridge"

// gatewayEndpoint is the endpoint whose gateway a sandbox routes through,
// chosen as libnetwork's sandbox orders its endpoints (epHeap): endpoints
// of docker_gwbridge last, then those of internal networks, the rest by
// network name. So a container on bridge that joins a network named "aa"
// routes through aa's gateway from then on, as Docker 20.10 does.
func (e *Engine) gatewayEndpoint(sb *sandbox) *Endpoint {
	var cands []*Endpoint
	for _, id := range sb.endpoints {
		if ep := e.endpoints[id]; ep.Gateway != nil && ep.IfName != "" {
			cands = append(cands, ep)
		}
	}
	rank := func(ep *Endpoint) (int, string) {
		n := e.networks[ep.NetworkID]
		switch {
		case n.Name == GatewayNetwork:
			return 2, n.Name
		case n.Internal:
			return 1, n.Name
		}
		return 0, n.Name
	}
	sort.SliceStable(cands, func(i, j int) bool {
		ri, ni := rank(cands[i])
		rj, nj := rank(cands[j])
		if ri != rj {
			return ri < rj
		}
		return ni < nj
	})
	if len(cands) == 0 {
		return nil
	}
	return cands[0]
}

// updateGateway points the sandbox's default route at its gateway endpoint
// when that changed. A route of an endpoint that left went with its
// interface; replacing the route switches from one endpoint to another.
func (e *Engine) updateGateway(sb *sandbox) error {
	best := e.gatewayEndpoint(sb)
	id := ""
	if best != nil {
		id = best.ID
	}
	if id == sb.gateway {
		return nil
	}
	if best != nil {
		if err := setDefaultRoute(&sb.Sandbox, best); err != nil {
			return err
		}
	}
	sb.gateway = id
	return nil
}

// setDefaultRoute makes "default via <gateway> dev <ifname>" the sandbox's
// only default route.
func setDefaultRoute(sb *Sandbox, ep *Endpoint) error {
	h, err := sb.Netlink()
	if err != nil {
		return err
	}
	index := ep.IfIndex
	if index == 0 {
		link, err := h.LinkByName(ep.IfName)
		if err != nil {
			return fmt.Errorf("default route: link %s: %w", ep.IfName, err)
		}
		index = link.Attrs().Index
	}
	r := &netlink.Route{LinkIndex: index, Gw: ep.Gateway, Scope: netlink.SCOPE_UNIVERSE}
	if err := h.RouteReplace(r); err != nil {
		return fmt.Errorf("default route via %s dev %s: %w", ep.Gateway, ep.IfName, err)
	}
	return nil
}
