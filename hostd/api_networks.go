package hostd

import (
	"maps"
	"net/http"
	"time"

	"github.com/nslab/nslab/netimpl"
	"github.com/nslab/nslab/netimpl/overlay"
)

// networkResource renders a network as Docker does; containers are listed
// only by inspect, as in Docker 20.10.
func (d *Daemon) networkResource(n netimpl.Network, withContainers bool) NetworkResource {
	nr := NetworkResource{
		Name:       n.Name,
		ID:         n.ID,
		Created:    n.Created.Format(time.RFC3339Nano),
		Scope:      n.Scope,
		Driver:     n.Driver,
		EnableIPv6: n.EnableIPv6,
		IPAM:       IPAMJSON{Driver: n.IPAM.Driver, Options: n.IPAM.Options, Config: []IPAMConfigJSON{}},
		Internal:   n.Internal,
		Attachable: n.Attachable,
		Ingress:    n.Ingress,
		Containers: map[string]EndpointResource{},
		Options:    n.Options,
		Labels:     n.Labels,
	}
	for _, p := range n.IPAM.Config {
		nr.IPAM.Config = append(nr.IPAM.Config, IPAMConfigJSON{Subnet: p.Subnet, IPRange: p.IPRange, Gateway: p.Gateway, AuxiliaryAddresses: p.AuxAddresses})
	}
	if len(n.IPAM.Config) == 0 {
		// Without a configuration of the user's, dockerd shows what IPAM
		// allocated: the subnet and its gateway (buildIPAMResources).
		for _, p := range n.Pools {
			nr.IPAM.Config = append(nr.IPAM.Config, IPAMConfigJSON{Subnet: p.Subnet.String(), Gateway: p.Gateway.String()})
		}
	}
	if n.Driver == overlay.Name && nr.Options[overlay.OptVXLANIDList] != "" {
		// The VNI is the cluster store's, handed to the driver as an
		// option; classic overlay shows no options (its driver took the
		// VNI itself).
		nr.Options = maps.Clone(nr.Options)
		delete(nr.Options, overlay.OptVXLANIDList)
	}
	if nr.Options == nil {
		nr.Options = map[string]string{}
	}
	if nr.Labels == nil {
		nr.Labels = map[string]string{}
	}
	if withContainers {
		for _, ep := range d.eng.Endpoints(n.ID) {
			er := EndpointResource{Name: ep.Name, EndpointID: ep.ID}
			if ep.MAC != nil {
				er.MacAddress = ep.MAC.String()
			}
			if ep.Addr != nil {
				er.IPv4Address = ep.Addr.String()
			}
			nr.Containers[ep.ContainerID] = er
		}
		for _, ep := range d.remoteEndpoints(n.ID) {
			// Other hosts' endpoints, as libnetwork lists a global
			// network's endpoints without a local sandbox: "ep-<id>".
			nr.Containers["ep-"+ep.ID] = EndpointResource{Name: ep.Name, EndpointID: ep.ID, MacAddress: ep.MAC.String(), IPv4Address: ep.Addr.String()}
		}
	}
	return nr
}

func (s *server) networkList(w http.ResponseWriter, r *http.Request) error {
	f, err := parseFilters(r.FormValue("filters"), "name", "id", "driver", "scope", "type", "label", "dangling")
	if err != nil {
		return err
	}
	for t := range f["type"] {
		if t != "custom" && t != "builtin" {
			return badRequest("invalid filter: 'type'='%s'", t)
		}
	}
	out := []NetworkResource{}
	for _, n := range s.d.eng.Networks() {
		typ := "custom"
		if n.Predefined {
			typ = "builtin"
		}
		if !f.match("name", n.Name) || !f.match("id", n.ID) || !f.exact("driver", n.Driver) ||
			!f.exact("scope", n.Scope) || !f.exact("type", typ) || !f.matchLabels(n.Labels) {
			continue
		}
		out = append(out, s.d.networkResource(n, false))
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *server) networkInspect(w http.ResponseWriter, r *http.Request) error {
	s.d.listEndpointDirs()
	n, err := s.d.eng.Network(r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, s.d.networkResource(n, true))
}

func (s *server) networkCreate(w http.ResponseWriter, r *http.Request) error {
	var req networkCreateRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	spec := netimpl.NetworkSpec{
		Name:       req.Name,
		Driver:     req.Driver,
		Options:    req.Options,
		Labels:     req.Labels,
		Internal:   req.Internal,
		Attachable: req.Attachable,
		Ingress:    req.Ingress,
		EnableIPv6: req.EnableIPv6,
	}
	if req.IPAM != nil {
		spec.IPAM.Driver = req.IPAM.Driver
		spec.IPAM.Options = req.IPAM.Options
		for _, c := range req.IPAM.Config {
			spec.IPAM.Config = append(spec.IPAM.Config, netimpl.IPAMPool{Subnet: c.Subnet, IPRange: c.IPRange, Gateway: c.Gateway, AuxAddresses: c.AuxiliaryAddresses})
		}
	}
	create := s.d.eng.CreateNetwork
	if spec.Driver == overlay.Name {
		// Global scope: through the cluster store.
		create = s.d.createGlobal
	}
	n, err := create(spec)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, map[string]string{"Id": n.ID, "Warning": ""})
}

func (s *server) networkDelete(w http.ResponseWriter, r *http.Request) error {
	n, err := s.d.eng.Network(r.PathValue("id"))
	if err != nil {
		return err
	}
	if n.Scope == netimpl.ScopeGlobal && s.d.cluster != nil {
		err = s.d.deleteGlobal(n)
	} else {
		err = s.d.eng.DeleteNetwork(n.ID)
	}
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *server) networkConnect(w http.ResponseWriter, r *http.Request) error {
	var req networkConnectRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	if err := s.d.connect(r.PathValue("id"), req.Container, req.EndpointConfig); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *server) networkDisconnect(w http.ResponseWriter, r *http.Request) error {
	var req networkDisconnectRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	if err := s.d.disconnect(r.PathValue("id"), req.Container, req.Force); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// networkPrune removes every network that is not predefined and has no
// endpoint, as dockerd's localNetworksPrune does: a stopped container's
// network goes too (its next start then fails with "network X not found").
func (s *server) networkPrune(w http.ResponseWriter, r *http.Request) error {
	if _, err := parseFilters(r.FormValue("filters"), "until", "label", "label!"); err != nil {
		return err
	}
	var deleted []string
	for _, n := range s.d.eng.Networks() {
		if n.Predefined || len(s.d.eng.Endpoints(n.ID)) > 0 {
			continue
		}
		del := s.d.eng.DeleteNetwork
		if n.Scope == netimpl.ScopeGlobal && s.d.cluster != nil {
			del = func(string) error { return s.d.deleteGlobal(n) }
		}
		if err := del(n.ID); err == nil {
			deleted = append(deleted, n.Name)
		}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"NetworksDeleted": deleted})
}
