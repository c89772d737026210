package controller

import (
	"maps"

	"github.com/nslab/nslab/netimpl"
	"github.com/nslab/nslab/netimpl/overlay"
)

// NetworkView is a network as Docker shows it (network ls and inspect).
type NetworkView struct {
	netimpl.Network
	// Containers are the endpoints on it, by container id, and on a global
	// network the other hosts' as "ep-<endpoint id>"; inspect shows them,
	// network ls does not (nil).
	Containers map[string]Attachment
}

// Attachment is one endpoint of a network as inspect shows it.
type Attachment struct {
	Name        string
	EndpointID  string
	MacAddress  string
	IPv4Address string // with its prefix length
}

// CreateNetwork creates a network (docker network create): an overlay
// network through the cluster store (global scope), any other in this
// host's engine. Containers to join it are likely to follow: the engine
// starts making their namespaces (Prewarm).
func (c *Controller) CreateNetwork(spec netimpl.NetworkSpec) (n netimpl.Network, err error) {
	if spec.Driver == overlay.Name {
		n, err = c.createGlobal(spec)
	} else {
		n, err = c.eng.CreateNetwork(spec)
	}
	if err == nil {
		c.eng.Prewarm()
	}
	return n, err
}

// Prewarm tells the engine that containers are coming (one was created):
// it starts making their namespaces ahead of their starts.
func (c *Controller) Prewarm() { c.eng.Prewarm() }

// DeleteNetwork removes a network (docker network rm): a global one from
// the cluster store too.
func (c *Controller) DeleteNetwork(ref string) error {
	n, err := c.eng.Network(ref)
	if err != nil {
		return err
	}
	if n.Scope == netimpl.ScopeGlobal && c.cluster != nil {
		err = c.deleteGlobal(n)
	} else {
		err = c.eng.DeleteNetwork(n.ID)
	}
	if err == nil {
		c.dropDNSTable(n.ID)
	}
	return err
}

// PruneNetworks removes every network that is not predefined and has no
// endpoint, as dockerd's localNetworksPrune does (a stopped container's
// network goes too: its next start then fails with "network X not
// found"), and returns their names.
func (c *Controller) PruneNetworks() []string {
	var deleted []string
	for _, n := range c.eng.Networks() {
		if n.Predefined || len(c.eng.Endpoints(n.ID)) > 0 {
			continue
		}
		if err := c.DeleteNetwork(n.ID); err == nil {
			deleted = append(deleted, n.Name)
		}
	}
	return deleted
}

// Networks lists every network as network ls shows it, sorted by name.
func (c *Controller) Networks() []NetworkView {
	var out []NetworkView
	for _, n := range c.eng.Networks() {
		out = append(out, NetworkView{Network: shown(n)})
	}
	return out
}

// InspectNetwork is a network as network inspect shows it, with the
// endpoints on it. With a cluster store it first makes the endpoint
// directories of the host's networks, as dockerd's inspect does
// (listEndpointDirs).
func (c *Controller) InspectNetwork(ref string) (NetworkView, error) {
	c.listEndpointDirs()
	n, err := c.eng.Network(ref)
	if err != nil {
		return NetworkView{}, err
	}
	v := NetworkView{Network: shown(n), Containers: map[string]Attachment{}}
	for _, ep := range c.eng.Endpoints(n.ID) {
		a := Attachment{Name: ep.Name, EndpointID: ep.ID}
		if ep.MAC != nil {
			a.MacAddress = ep.MAC.String()
		}
		if ep.Addr != nil {
			a.IPv4Address = ep.Addr.String()
		}
		v.Containers[ep.ContainerID] = a
	}
	for _, ep := range c.remoteEndpoints(n.ID) {
		// Other hosts' endpoints, as libnetwork lists a global network's
		// endpoints without a local sandbox: "ep-<id>".
		v.Containers["ep-"+ep.ID] = Attachment{Name: ep.Name, EndpointID: ep.ID, MacAddress: ep.MAC.String(), IPv4Address: ep.Addr.String()}
	}
	return v, nil
}

// shown is a network's configuration as dockerd shows it: without a
// configuration of the user's, the subnet and gateway IPAM allocated
// (buildIPAMResources); an overlay network without the VNI the cluster
// store gave it (classic overlay shows no options: its driver took the
// VNI itself).
func shown(n netimpl.Network) netimpl.Network {
	if len(n.IPAM.Config) == 0 {
		for _, p := range n.Pools {
			n.IPAM.Config = append(n.IPAM.Config, netimpl.IPAMPool{Subnet: p.Subnet.String(), Gateway: p.Gateway.String()})
		}
	}
	if n.Driver == overlay.Name && n.Options[overlay.OptVXLANIDList] != "" {
		n.Options = maps.Clone(n.Options)
		delete(n.Options, overlay.OptVXLANIDList)
	}
	return n
}
