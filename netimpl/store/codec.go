package store

import (
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"slices"
	"time"
)

// networkJSON is a network as stored, with libnetwork's field names where
// it has them (its network JSON), so that the value reads like Docker's.
type networkJSON struct {
	Name         string            `json:"name"`
	ID           string            `json:"id"`
	NetworkType  string            `json:"networkType"`
	Scope        string            `json:"scope"`
	IPAMType     string            `json:"ipamType"`
	AddrSpace    string            `json:"addrSpace"`
	IPAMV4Config []ipamConfigJSON  `json:"ipamV4Config"`
	IPAMV4Info   []ipamInfoJSON    `json:"ipamV4Info"`
	Internal     bool              `json:"internal"`
	Attachable   bool              `json:"attachable"`
	Labels       map[string]string `json:"labels,omitempty"`
	Generic      map[string]string `json:"generic,omitempty"`
	Created      time.Time         `json:"created"`
	VNI          uint32            `json:"vxlanId,omitempty"` // nslab's: Docker keeps it in overlay/network/<id>
}

// ipamConfigJSON is the request (libnetwork's IpamConf).
type ipamConfigJSON struct {
	PreferredPool string `json:"PreferredPool,omitempty"`
	SubPool       string `json:"SubPool,omitempty"`
	Gateway       string `json:"Gateway,omitempty"`
}

// ipamInfoJSON is what IPAM gave (libnetwork's IpamInfo).
type ipamInfoJSON struct {
	AddressSpace string `json:"AddressSpace"`
	Pool         string `json:"Pool"`
	Gateway      string `json:"Gateway"` // with the subnet's length
}

// overlayJSON is the overlay driver's record, as libnetwork's subnetJSON.
type overlayJSON struct {
	SubnetIP string `json:"SubnetIP"`
	GwIP     string `json:"GwIP"`
	Vni      uint32 `json:"Vni"`
}

func encodeNetwork(n Network) []byte {
	j := networkJSON{
		Name: n.Name, ID: n.ID, NetworkType: n.Driver, Scope: "global",
		IPAMType: "default", AddrSpace: "GlobalDefault",
		Internal: n.Internal, Attachable: n.Attachable,
		Labels: n.Labels, Generic: n.Options, Created: n.Created.UTC(), VNI: n.VNI,
	}
	conf := ipamConfigJSON{}
	if n.UserSubnet {
		conf.PreferredPool = n.Subnet.String()
		conf.Gateway = n.Gateway.String()
	}
	if n.IPRange.IsValid() {
		conf.SubPool = n.IPRange.String()
	}
	j.IPAMV4Config = []ipamConfigJSON{conf}
	j.IPAMV4Info = []ipamInfoJSON{{AddressSpace: "GlobalDefault", Pool: n.Subnet.String(),
		Gateway: netip.PrefixFrom(n.Gateway, n.Subnet.Bits()).String()}}
	b, err := json.Marshal(j)
	if err != nil {
		panic("store: encode network: " + err.Error()) // plain data cannot fail
	}
	return b
}

func decodeNetwork(b []byte) (Network, error) {
	var j networkJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return Network{}, err
	}
	if len(j.IPAMV4Info) != 1 {
		return Network{}, fmt.Errorf("network %s: %d IPv4 pools, want 1", j.ID, len(j.IPAMV4Info))
	}
	n := Network{ID: j.ID, Name: j.Name, Driver: j.NetworkType, VNI: j.VNI,
		Options: j.Generic, Labels: j.Labels, Internal: j.Internal, Attachable: j.Attachable, Created: j.Created}
	var err error
	if n.Subnet, err = netip.ParsePrefix(j.IPAMV4Info[0].Pool); err != nil {
		return Network{}, fmt.Errorf("network %s: pool: %w", j.ID, err)
	}
	gw, err := netip.ParsePrefix(j.IPAMV4Info[0].Gateway)
	if err != nil {
		return Network{}, fmt.Errorf("network %s: gateway: %w", j.ID, err)
	}
	n.Gateway = gw.Addr()
	if len(j.IPAMV4Config) == 1 {
		n.UserSubnet = j.IPAMV4Config[0].PreferredPool != ""
		if sp := j.IPAMV4Config[0].SubPool; sp != "" {
			if n.IPRange, err = netip.ParsePrefix(sp); err != nil {
				return Network{}, fmt.Errorf("network %s: ip range: %w", j.ID, err)
			}
		}
	}
	return n, nil
}

func encodeOverlay(n Network) []byte {
	b, _ := json.Marshal([]overlayJSON{{SubnetIP: n.Subnet.String(),
		GwIP: netip.PrefixFrom(n.Gateway, n.Subnet.Bits()).String(), Vni: n.VNI}})
	return b
}

// endpointJSON follows libnetwork's endpoint JSON: ep_iface and locator.
type endpointJSON struct {
	Name    string        `json:"name"`
	ID      string        `json:"id"`
	Network string        `json:"network"`
	Locator string        `json:"locator"`
	Host    string        `json:"host"`
	Iface   endpointIface `json:"ep_iface"`
}

type endpointIface struct {
	Addr string `json:"addr"`
	MAC  string `json:"mac"`
}

func encodeEndpoint(ep Endpoint) []byte {
	b, _ := json.Marshal(endpointJSON{Name: ep.Name, ID: ep.ID, Network: ep.NetworkID,
		Locator: ep.VTEP.String(), Host: ep.Host,
		Iface: endpointIface{Addr: ep.Addr.String(), MAC: ep.MAC.String()}})
	return b
}

func decodeEndpoint(b []byte) (Endpoint, error) {
	var j endpointJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return Endpoint{}, err
	}
	ep := Endpoint{ID: j.ID, Name: j.Name, NetworkID: j.Network, Host: j.Host}
	var err error
	if ep.VTEP, err = netip.ParseAddr(j.Locator); err != nil {
		return Endpoint{}, fmt.Errorf("endpoint %s: locator: %w", j.ID, err)
	}
	if ep.Addr, err = netip.ParsePrefix(j.Iface.Addr); err != nil {
		return Endpoint{}, fmt.Errorf("endpoint %s: addr: %w", j.ID, err)
	}
	if ep.MAC, err = net.ParseMAC(j.Iface.MAC); err != nil {
		return Endpoint{}, fmt.Errorf("endpoint %s: mac: %w", j.ID, err)
	}
	return ep, nil
}

// clone copies a network's maps, so that callers never share them.
func (n Network) clone() Network {
	n.Options = maps.Clone(n.Options)
	n.Labels = maps.Clone(n.Labels)
	return n
}

func (ep Endpoint) clone() Endpoint {
	ep.MAC = slices.Clone(ep.MAC)
	return ep
}
