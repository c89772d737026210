package store

import (
	"net/netip"
	"strconv"
	"strings"
)

// The key layout. Where Docker 20.10's libnetwork has a key for the same
// thing, the key has its shape; Docker keeps one bitmask per pool or id
// space where nslab keeps one key per allocation, because a key per
// allocation is what an etcd transaction can check and take at once.
const (
	root = "/docker/network/v1.0/"
	// network/<id>: the network's JSON (libnetwork's network key).
	networkDir = root + "network/"
	// overlay/network/<id>: [{"SubnetIP","GwIP","Vni"}], the overlay
	// driver's own record of the network, as libnetwork writes it.
	overlayDir = root + "overlay/network/"
	// endpoint/<network id>/<endpoint id>: the endpoint's JSON, leased.
	endpointDir = root + "endpoint/"
	// ipam/default/config/GlobalDefault/<subnet>: a subnet taken, whose
	// value is the network id.
	poolDir = root + "ipam/default/config/GlobalDefault/"
	// ipam/default/data/GlobalDefault/<subnet>/<ip>: an address taken,
	// leased to the host that took it (Docker: one bitmask per subnet
	// under ipam/default/data/GlobalDefault/<subnet>).
	addressDir = root + "ipam/default/data/GlobalDefault/"
	// idm/vxlan-id/<vni>: a VXLAN id taken (Docker: one bitmask at
	// idm/vxlan-id), whose value is the network id.
	vniDir = root + "idm/vxlan-id/"
	// /docker/nodes/<advertise>: a host of the cluster, leased, as
	// Docker's discovery registers it.
	nodeDir = "/docker/nodes/"
	// /nslab/v1/network-name/<name>: the network id of a name, so that a
	// create can check in the same transaction that the name is free
	// (Docker has no such key and lets two hosts race).
	nameDir = "/nslab/v1/network-name/"
)

func networkKey(id string) string                    { return networkDir + id }
func overlayKey(id string) string                    { return overlayDir + id }
func endpointNetDir(networkID string) string         { return endpointDir + networkID + "/" }
func endpointKey(networkID, id string) string        { return endpointNetDir(networkID) + id }
func poolKey(p netip.Prefix) string                  { return poolDir + p.String() }
func addressPoolDir(p netip.Prefix) string           { return addressDir + p.String() + "/" }
func addressKey(p netip.Prefix, a netip.Addr) string { return addressPoolDir(p) + a.String() }
func vniKey(vni uint32) string                       { return vniDir + strconv.FormatUint(uint64(vni), 10) }
func nameKey(name string) string                     { return nameDir + name }
func nodeKey(advertise netip.AddrPort) string        { return nodeDir + advertise.String() }

// parsePoolKey reads the subnet of a pool key.
func parsePoolKey(k string) (netip.Prefix, bool) {
	p, err := netip.ParsePrefix(strings.TrimPrefix(k, poolDir))
	return p, err == nil
}

// parseAddressKey reads the address of an address key under dir.
func parseAddressKey(dir, k string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(strings.TrimPrefix(k, dir))
	return a, err == nil
}

// parseVNIKey reads the VNI of a vxlan-id key.
func parseVNIKey(k string) (uint32, bool) {
	v, err := strconv.ParseUint(strings.TrimPrefix(k, vniDir), 10, 32)
	return uint32(v), err == nil
}

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
