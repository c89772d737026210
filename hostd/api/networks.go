package api

import (
	"net/http"
	"time"

	"github.com/nslab/nslab/hostd/api/types"
	"github.com/nslab/nslab/hostd/errdefs"
	"github.com/nslab/nslab/hostd/events"
	"github.com/nslab/nslab/hostd/filters"
	"github.com/nslab/nslab/netimpl"
	"github.com/nslab/nslab/netimpl/controller"
)

// networkResource renders a network as Docker does; containers are listed
// only by inspect, as in Docker 20.10.
func networkResource(v controller.NetworkView) types.NetworkResource {
	n := v.Network
	nr := types.NetworkResource{
		Name:       n.Name,
		ID:         n.ID,
		Created:    n.Created.Format(time.RFC3339Nano),
		Scope:      n.Scope,
		Driver:     n.Driver,
		EnableIPv6: n.EnableIPv6,
		IPAM:       types.IPAMJSON{Driver: n.IPAM.Driver, Options: n.IPAM.Options, Config: []types.IPAMConfigJSON{}},
		Internal:   n.Internal,
		Attachable: n.Attachable,
		Ingress:    n.Ingress,
		Containers: map[string]types.EndpointResource{},
		Options:    n.Options,
		Labels:     n.Labels,
	}
	for _, p := range n.IPAM.Config {
		nr.IPAM.Config = append(nr.IPAM.Config, types.IPAMConfigJSON{Subnet: p.Subnet, IPRange: p.IPRange, Gateway: p.Gateway, AuxiliaryAddresses: p.AuxAddresses})
	}
	if nr.Options == nil {
		nr.Options = map[string]string{}
	}
	if nr.Labels == nil {
		nr.Labels = map[string]string{}
	}
	for id, a := range v.Containers {
		nr.Containers[id] = types.EndpointResource{Name: a.Name, EndpointID: a.EndpointID, MacAddress: a.MacAddress, IPv4Address: a.IPv4Address}
	}
	return nr
}

func (s *server) networkList(w http.ResponseWriter, r *http.Request) error {
	f, err := filters.Parse(r.FormValue("filters"), "name", "id", "driver", "scope", "type", "label", "dangling")
	if err != nil {
		return err
	}
	for t := range f["type"] {
		if t != "custom" && t != "builtin" {
			return errdefs.BadRequest("invalid filter: 'type'='%s'", t)
		}
	}
	out := []types.NetworkResource{}
	for _, v := range s.d.Controller().Networks() {
		n := v.Network
		typ := "custom"
		if n.Predefined {
			typ = "builtin"
		}
		if !f.Match("name", n.Name) || !f.Match("id", n.ID) || !f.Exact("driver", n.Driver) ||
			!f.Exact("scope", n.Scope) || !f.Exact("type", typ) || !f.MatchLabels(n.Labels) {
			continue
		}
		out = append(out, networkResource(v))
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *server) networkInspect(w http.ResponseWriter, r *http.Request) error {
	v, err := s.d.Controller().InspectNetwork(r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, networkResource(v))
}

func (s *server) networkCreate(w http.ResponseWriter, r *http.Request) error {
	var req types.NetworkCreateRequest
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
	n, err := s.d.Controller().CreateNetwork(spec)
	if err != nil {
		return err
	}
	s.d.NetworkEvent(n.ID, n.Name, n.Driver, "create", nil)
	return writeJSON(w, http.StatusCreated, map[string]string{"Id": n.ID, "Warning": ""})
}

func (s *server) networkDelete(w http.ResponseWriter, r *http.Request) error {
	n, err := s.d.Controller().Network(r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := s.d.Controller().DeleteNetwork(n.ID); err != nil {
		return err
	}
	s.d.NetworkEvent(n.ID, n.Name, n.Driver, "destroy", nil)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *server) networkConnect(w http.ResponseWriter, r *http.Request) error {
	var req types.NetworkConnectRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	if err := s.d.Connect(r.PathValue("id"), req.Container, req.EndpointConfig); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *server) networkDisconnect(w http.ResponseWriter, r *http.Request) error {
	var req types.NetworkDisconnectRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	if err := s.d.Disconnect(r.PathValue("id"), req.Container, req.Force); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// networkPrune removes every network that is not predefined and has no
// endpoint (see controller.PruneNetworks).
func (s *server) networkPrune(w http.ResponseWriter, r *http.Request) error {
	if _, err := filters.Parse(r.FormValue("filters"), "until", "label", "label!"); err != nil {
		return err
	}
	before := map[string]controller.NetworkView{}
	for _, v := range s.d.Controller().Networks() {
		before[v.Name] = v
	}
	deleted := s.d.Controller().PruneNetworks()
	for _, name := range deleted {
		n := before[name]
		s.d.NetworkEvent(n.ID, n.Name, n.Driver, "destroy", nil)
	}
	s.d.PruneEvent(events.Network, 0)
	return writeJSON(w, http.StatusOK, map[string]any{"NetworksDeleted": deleted})
}
