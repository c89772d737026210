package store

import (
	"net/netip"
	"strings"
)

// The key layout of Docker 20.10's libnetwork in the cluster store, key for
// key (fixtures/docker-20.10/etcd-v2-overlay.txt shows a whole tree).
const (
	root = "/docker/network/v1.0/"
	// network/<id>: the network's JSON.
	networkDir = root + "network/"
	// endpoint_count/<network id>: {"Count":N}, the network's endpoints
	// on every host; a network is removed only while it is 0.
	endpointCountDir = root + "endpoint_count/"
	// endpoint/<network id>/<endpoint id>: the endpoint's JSON. The
	// directory of a network appears when anything lists its endpoints.
	endpointDir = root + "endpoint/"
	// overlay/network/<id>: the overlay driver's record of the network,
	// its subnet, gateway and VXLAN id.
	overlayDir = root + "overlay/network/"
	// ipam/default/config/GlobalDefault: every pool of the global address
	// space, in one value.
	poolConfigKey = root + "ipam/default/config/" + addressSpace
	// ipam/default/data/GlobalDefault/<subnet>: the bitmask of a pool's
	// addresses.
	poolDataDir = root + "ipam/default/data/" + addressSpace + "/"
	// idm/vxlan-id: the bitmask of the VXLAN ids, VNI 256 its bit 0.
	vxlanIDKey = root + "idm/vxlan-id"
	// /docker/nodes/<advertise>: a host of the cluster, as Docker's
	// discovery registers it, with a TTL it renews.
	nodeDir = "/docker/nodes/"
)

// addressSpace is the global address space of Docker's default IPAM.
const addressSpace = "GlobalDefault"

func networkKey(id string) string             { return networkDir + id }
func endpointCountKey(id string) string       { return endpointCountDir + id }
func endpointNetDir(networkID string) string  { return endpointDir + networkID }
func endpointKey(networkID, id string) string { return endpointNetDir(networkID) + "/" + id }
func overlayKey(id string) string             { return overlayDir + id }
func poolDataKey(p netip.Prefix) string       { return poolDataDir + p.String() }
func nodeKey(advertise netip.AddrPort) string { return nodeDir + advertise.String() }

// endpointIDs splits an endpoint key into network and endpoint ids.
func endpointIDs(k string) (networkID, id string, ok bool) {
	rest, ok := strings.CutPrefix(k, endpointDir)
	if !ok {
		return "", "", false
	}
	networkID, id, ok = strings.Cut(rest, "/")
	return networkID, id, ok && networkID != "" && id != "" && !strings.Contains(id, "/")
}

// validID keeps ids and names from reaching into another key: they are
// path elements.
func validID(s string) bool {
	return s != "" && len(s) <= 128 && !strings.ContainsAny(s, "/\x00") && s != "." && s != ".."
}
