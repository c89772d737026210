package netimpl

import (
	"fmt"
	"slices"
	"sort"

	"github.com/vishvananda/netlink"
)

// GatewayNetwork is the bridge network libnetwork makes for overlay
// containers' way out; its endpoints provide a default route only as a
// last resort.
const GatewayNetwork = "docker_gwbridge"

// endpointRank orders a sandbox's endpoints as libnetwork does (its
// endpoints' Less): endpoints of docker_gwbridge last, then those of
// internal networks, the rest by network name.
func endpointRank(n *Network) (int, string) {
	switch {
	case n.Name == GatewayNetwork:
		return 2, n.Name
	case n.Internal:
		return 1, n.Name
	}
	return 0, n.Name
}

func endpointLess(a, b *Network) bool {
	ra, na := endpointRank(a)
	rb, nb := endpointRank(b)
	if ra != rb {
		return ra < rb
	}
	return na < nb
}

// JoinOrder is the order in which a starting container's interfaces are
// made, eth0 first. Docker joins the container's networks before its
// namespace exists and libnetwork makes the interfaces once it does,
// walking the sandbox's endpoints in their order (endpointRank): on Docker
// 20.10 a container created on bridge and connected to "aa" before its
// start has aa's interface as eth0, and the interface of an internal
// network comes after the others'.
func JoinOrder(networks []Network) []Network {
	out := slices.Clone(networks)
	sort.SliceStable(out, func(i, j int) bool { return endpointLess(&out[i], &out[j]) })
	return out
}

// gatewayEndpoint is the endpoint whose gateway a sandbox routes through,
// the first of its endpoints in libnetwork's order (endpointRank) that has
// a gateway. So a container on bridge that joins a network named "aa"
// routes through aa's gateway from then on, as Docker 20.10 does.
func (e *Engine) gatewayEndpoint(sb *sandbox) *Endpoint {
	var cands []*Endpoint
	for _, id := range sb.endpoints {
		if ep := e.endpoints[id]; ep.Gateway != nil && ep.IfName != "" {
			cands = append(cands, ep)
		}
	}
	sort.SliceStable(cands, func(i, j int) bool {
		return endpointLess(e.networks[cands[i].NetworkID], e.networks[cands[j].NetworkID])
	})
	if len(cands) == 0 {
		return nil
	}
	return cands[0]
}

// GatewayEndpoint is the sandbox's gateway endpoint (gatewayEndpoint),
// false when it has none.
func (e *Engine) GatewayEndpoint(sandboxID string) (Endpoint, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	sb, ok := e.sandboxes[sandboxID]
	if !ok || sb.gateway == "" {
		return Endpoint{}, false
	}
	return e.endpoints[sb.gateway].clone(), true
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
