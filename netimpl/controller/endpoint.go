package controller

import (
	"net"
	"net/netip"
	"slices"
	"sort"
	"strings"

	"github.com/nslab/nslab/netimpl"
)

// Docker's texts for what it refuses on its own networks (runconfig, HTTP
// 400).
const (
	msgUnsupportedNetworkAndIP    = "user specified IP address is supported on user defined networks only"
	msgUnsupportedNetworkAndAlias = "network-scoped alias is supported only for containers in user defined networks"
)

// EndpointConfig is what a container asks of one of its networks: its
// EndpointSettings of create's NetworkingConfig or of network connect.
type EndpointConfig struct {
	Aliases      []string
	IPv4Address  string // --ip
	IPv6Address  string // --ip6
	LinkLocalIPs []string
	// MacAddress is --mac-address, which Docker gives the endpoint on the
	// network the container was created on only.
	MacAddress string
}

// userDefined is Docker's NetworkMode.IsUserDefined for a network name.
func userDefined(name string) bool {
	return !strings.HasPrefix(name, "container:") && !netimpl.IsPredefinedName(name)
}

// CheckEndpoint refuses what Docker refuses of an endpoint configuration
// (create's and connect's): addresses and aliases on its own networks, an
// --ip that is not an IPv4 address.
func CheckEndpoint(network string, cfg EndpointConfig) error {
	_, err := checkEndpoint(network, cfg)
	return err
}

// checkEndpoint is CheckEndpoint, with the --ip address read.
func checkEndpoint(network string, cfg EndpointConfig) (netip.Addr, error) {
	if !userDefined(network) {
		if cfg.IPv4Address != "" || cfg.IPv6Address != "" || len(cfg.LinkLocalIPs) > 0 {
			return netip.Addr{}, invalid(msgUnsupportedNetworkAndIP)
		}
		if len(cfg.Aliases) > 0 {
			return netip.Addr{}, invalid(msgUnsupportedNetworkAndAlias)
		}
	}
	if cfg.IPv4Address == "" {
		return netip.Addr{}, nil
	}
	// As dockerd's verifyNetworkingConfig reads it.
	a, err := netip.ParseAddr(cfg.IPv4Address)
	if err != nil || !a.Unmap().Is4() {
		return netip.Addr{}, invalid("invalid IPv4 address: %s", cfg.IPv4Address)
	}
	return a.Unmap(), nil
}

// endpointSpec is what the engine needs to join a container to a network:
// the name, the aliases (on a user-defined network with the short id
// added, as dockerd's updateNetworkConfig adds it), the address of --ip
// and the MAC of --mac-address.
func endpointSpec(containerID, name, network string, cfg EndpointConfig) (netimpl.EndpointSpec, error) {
	ip, err := checkEndpoint(network, cfg)
	if err != nil {
		return netimpl.EndpointSpec{}, err
	}
	spec := netimpl.EndpointSpec{Name: name, Aliases: slices.Clone(cfg.Aliases), IPv4: ip}
	if short := containerID[:min(12, len(containerID))]; userDefined(network) && !slices.Contains(spec.Aliases, short) {
		spec.Aliases = append(spec.Aliases, short)
	}
	if cfg.MacAddress != "" {
		mac, err := net.ParseMAC(cfg.MacAddress)
		if err != nil {
			return spec, invalid("%s is not a valid mac address", cfg.MacAddress)
		}
		spec.MAC = mac
	}
	return spec, nil
}

// joinOrder is the order dockerd joins a starting container's networks in:
// the default network first, then the others (dockerd takes them in map
// order; sorted here, so that a start is reproducible).
func joinOrder(networks map[string]EndpointConfig) []string {
	var names []string
	for name := range networks {
		if name != "bridge" {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	if _, ok := networks["bridge"]; ok {
		names = append([]string{"bridge"}, names...)
	}
	return names
}
