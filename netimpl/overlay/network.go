package overlay

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/nslab/nslab/netimpl"
)

// network is the driver's state of one overlay network.
type network struct {
	id, name string
	vni      uint32
	subnet   netip.Prefix
	gateway  netip.Prefix // the gateway with the subnet's length
	mtu      int          // of vxlan0 and the veths
	nsName   string
	// sb is the network's namespace while a local endpoint exists.
	sb *sandbox
	// endpoints maps endpoint ids to their veth in the namespace.
	endpoints map[string]string
	// peers are the remote endpoints, by IP, programmed whenever sb exists.
	peers map[netip.Addr]Peer
}

// joined is the network's veths by endpoint ID (netimpl.Join, netimpl.Leave).
func (n *network) joined() map[string]string { return n.endpoints }

// CreateNetwork checks the network's pool, VNI and MTU and records it. Like
// Docker's, it makes nothing in the kernel: the namespace comes with the
// first local endpoint. Without OptVXLANIDList the VNI comes later, with
// SetVNI before that first join: Docker's classic overlay takes it from
// the cluster store when a network is first joined, not when it is made.
func (d *Driver) CreateNetwork(n *netimpl.Network) error {
	switch {
	case len(n.Pools) > 1:
		return netimpl.Errorf(netimpl.KindForbidden, "overlay network %s: one subnet per network is supported", n.Name)
	case len(n.Pools) == 0:
		return netimpl.Errorf(netimpl.KindInvalid, "ipv4 pool is empty")
	case len(n.ID) < 12:
		return fmt.Errorf("overlay network %s: id %q too short", n.Name, n.ID)
	}
	var vni uint32
	if v, ok := n.Options[OptVXLANIDList]; ok {
		var err error
		if vni, err = parseVNI(v); err != nil {
			return netimpl.Errorf(netimpl.KindInvalid, "overlay network %s: %v", n.Name, err)
		}
	}
	mtu, err := d.mtu(n.Options)
	if err != nil {
		return netimpl.Errorf(netimpl.KindInvalid, "overlay network %s: %v", n.Name, err)
	}
	pool := n.Pools[0]
	nw := &network{
		id:        n.ID,
		name:      n.Name,
		vni:       vni,
		subnet:    pool.Subnet,
		gateway:   netip.PrefixFrom(pool.Gateway, pool.Subnet.Bits()),
		mtu:       mtu,
		nsName:    d.NamespaceName(n.ID),
		endpoints: map[string]string{},
		peers:     map[netip.Addr]Peer{},
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, dup := d.networks[n.ID]; dup {
		return netimpl.Errorf(netimpl.KindConflict, "overlay network %s exists already", n.ID)
	}
	if err := d.vniFree(nw, vni); err != nil {
		return err
	}
	d.networks[n.ID] = nw
	return nil
}

// SetVNI gives a network created without OptVXLANIDList its VNI. Setting
// the one it has is a no-op; another one is refused while the network's
// namespace (and its VXLAN device) exists.
func (d *Driver) SetVNI(networkID string, vni uint32) error {
	if vni < 1 || vni > MaxVNI {
		return fmt.Errorf("overlay network %s: invalid vxlan id %d", networkID, vni)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	nw, ok := d.networks[networkID]
	switch {
	case !ok:
		return netimpl.Errorf(netimpl.KindNotFound, "overlay network %s: unknown to the driver", networkID)
	case nw.vni == vni:
		return nil
	case nw.sb != nil:
		return fmt.Errorf("overlay network %s: has VXLAN id %d in use, not %d", nw.name, nw.vni, vni)
	}
	if err := d.vniFree(nw, vni); err != nil {
		return err
	}
	nw.vni = vni
	return nil
}

// vniFree refuses a VNI another network of the driver has: two devices
// with one VNI cannot share the host's UDP port. d.mu is held.
func (d *Driver) vniFree(nw *network, vni uint32) error {
	for _, other := range d.networks {
		if other != nw && vni != 0 && other.vni == vni {
			return netimpl.Errorf(netimpl.KindConflict, "overlay network %s: VXLAN id %d is network %s's", nw.name, vni, other.name)
		}
	}
	return nil
}

// DeleteNetwork removes the network's namespace if it still exists and
// forgets the network with its peers. What is gone already is not an
// error; after a failure the driver keeps the network
// (netimpl.DeleteRecord).
func (d *Driver) DeleteNetwork(n *netimpl.Network) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return netimpl.DeleteRecord(d.networks, n, d.destroySandbox)
}

// parseVNI reads OptVXLANIDList: exactly one VNI, 1 to MaxVNI.
func parseVNI(v string) (uint32, error) {
	if strings.Contains(v, ",") {
		return 0, fmt.Errorf("VXLAN ids %q: one subnet, one id", v)
	}
	id, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32)
	if err != nil || id < 1 || id > MaxVNI {
		return 0, fmt.Errorf("invalid vxlan id value %q passed", v)
	}
	return uint32(id), nil
}

// mtu is the MTU of the network's devices: OptMTU or the underlay's, less
// the encapsulation, as libnetwork's maxMTU computes it.
func (d *Driver) mtu(opts map[string]string) (int, error) {
	base := d.cfg.UnderlayMTU
	if v, ok := opts[OptMTU]; ok {
		m, err := strconv.Atoi(v)
		if err != nil {
			return 0, fmt.Errorf("failed to parse %s value: %s (%v)", OptMTU, v, err)
		}
		base = m
	}
	if base-Encap < 68 || base > 65535 {
		return 0, errors.New("invalid MTU number: " + strconv.Itoa(base))
	}
	return base - Encap, nil
}
