package store

import (
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"time"
)

// The values are libnetwork's, field for field: Docker 20.10 marshals its
// objects as maps, so the keys come sorted, and a network keeps its IPAM
// configuration as JSON inside a JSON string (fixtures/docker-20.10/
// etcd-v2-overlay.txt). What nslab does not model is written as Docker
// writes it for a network or endpoint made by `docker network create -d
// overlay` and `docker run --network`.

// optGeneric holds a network's driver options (-o) in its "generic" map.
const optGeneric = "com.docker.network.generic"

type networkJSON struct {
	AddrSpace        string          `json:"addrSpace"`
	Attachable       bool            `json:"attachable"`
	ConfigFrom       string          `json:"configFrom"`
	ConfigOnly       bool            `json:"configOnly"`
	Created          time.Time       `json:"created"`
	EnableIPv6       bool            `json:"enableIPv6"`
	Generic          json.RawMessage `json:"generic"`
	ID               string          `json:"id"`
	InDelete         bool            `json:"inDelete"`
	Ingress          bool            `json:"ingress"`
	Internal         bool            `json:"internal"`
	IPAMOptions      json.RawMessage `json:"ipamOptions"`
	IPAMType         string          `json:"ipamType"`
	IPAMV4Config     string          `json:"ipamV4Config"`
	IPAMV4Info       string          `json:"ipamV4Info"`
	Labels           json.RawMessage `json:"labels"`
	LoadBalancerIP   string          `json:"loadBalancerIP"`
	LoadBalancerMode string          `json:"loadBalancerMode"`
	Name             string          `json:"name"`
	NetworkType      string          `json:"networkType"`
	Persist          bool            `json:"persist"`
	PostIPv6         bool            `json:"postIPv6"`
	Scope            string          `json:"scope"`
}

// ipamConfJSON is libnetwork's IpamConf: the request.
type ipamConfJSON struct {
	PreferredPool string
	SubPool       string
	Gateway       string
	AuxAddresses  map[string]string
}

// ipamInfoJSON is libnetwork's IpamInfo: what IPAM gave, its IPAMData
// itself a JSON string.
type ipamInfoJSON struct {
	IPAMData string
	PoolID   string
}

type ipamDataJSON struct {
	AddressSpace string
	Gateway      string // with the subnet's length
	Pool         string
}

func encodeNetwork(n Network) []byte {
	conf := ipamConfJSON{}
	if n.UserSubnet {
		conf.PreferredPool = n.Subnet.String()
	}
	if n.IPRange.IsValid() {
		conf.SubPool = n.IPRange.String()
	}
	if n.UserGateway {
		conf.Gateway = n.Gateway.String()
	}
	data := mustJSON(ipamDataJSON{AddressSpace: addressSpace,
		Gateway: netip.PrefixFrom(n.Gateway, n.Subnet.Bits()).String(), Pool: n.Subnet.String()})
	generic := mustJSON(map[string]any{"com.docker.network.enable_ipv6": false, optGeneric: orEmpty(n.Options)})
	return mustJSON(networkJSON{
		AddrSpace: addressSpace, Attachable: n.Attachable, Created: n.Created.UTC(), Generic: generic,
		ID: n.ID, Internal: n.Internal, IPAMOptions: json.RawMessage("{}"), IPAMType: "default",
		IPAMV4Config: string(mustJSON([]ipamConfJSON{conf})),
		IPAMV4Info:   string(mustJSON([]ipamInfoJSON{{IPAMData: string(data), PoolID: poolID(n.Subnet, n.IPRange)}})),
		Labels:       mustJSON(orEmpty(n.Labels)), LoadBalancerMode: "NAT", Name: n.Name, NetworkType: n.Driver,
		Persist: true, Scope: "global",
	})
}

func decodeNetwork(b []byte) (Network, error) {
	var j networkJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return Network{}, err
	}
	n := Network{ID: j.ID, Name: j.Name, Driver: j.NetworkType, Internal: j.Internal, Attachable: j.Attachable, Created: j.Created}
	var confs []ipamConfJSON
	var infos []ipamInfoJSON
	var data ipamDataJSON
	if err := json.Unmarshal([]byte(j.IPAMV4Info), &infos); err != nil || len(infos) != 1 {
		return Network{}, fmt.Errorf("network %s: ipamV4Info %q: want one pool (%v)", j.ID, j.IPAMV4Info, err)
	}
	if err := json.Unmarshal([]byte(infos[0].IPAMData), &data); err != nil {
		return Network{}, fmt.Errorf("network %s: IPAMData: %w", j.ID, err)
	}
	var err error
	if n.Subnet, err = netip.ParsePrefix(data.Pool); err != nil {
		return Network{}, fmt.Errorf("network %s: pool: %w", j.ID, err)
	}
	gw, err := netip.ParsePrefix(data.Gateway)
	if err != nil {
		return Network{}, fmt.Errorf("network %s: gateway: %w", j.ID, err)
	}
	n.Gateway = gw.Addr()
	if err := json.Unmarshal([]byte(j.IPAMV4Config), &confs); err == nil && len(confs) == 1 {
		n.UserSubnet, n.UserGateway = confs[0].PreferredPool != "", confs[0].Gateway != ""
		if sp := confs[0].SubPool; sp != "" {
			if n.IPRange, err = netip.ParsePrefix(sp); err != nil {
				return Network{}, fmt.Errorf("network %s: ip range: %w", j.ID, err)
			}
		}
	}
	var generic map[string]json.RawMessage
	if json.Unmarshal(j.Generic, &generic) == nil {
		n.Options = stringMap(generic[optGeneric])
	}
	n.Labels = stringMap(j.Labels)
	return n, nil
}

// endpointJSON is libnetwork's endpoint: its interface, its host's
// address as "locator", its sandbox and aliases.
type endpointJSON struct {
	Anonymous         bool            `json:"anonymous"`
	DisableResolution bool            `json:"disableResolution"`
	Iface             endpointIface   `json:"ep_iface"`
	ExposedPorts      []any           `json:"exposed_ports"`
	Generic           json.RawMessage `json:"generic"`
	ID                string          `json:"id"`
	IngressPorts      []any           `json:"ingressPorts"`
	JoinInfo          json.RawMessage `json:"joinInfo"`
	LoadBalancer      bool            `json:"loadBalancer"`
	Locator           string          `json:"locator"`
	MyAliases         []string        `json:"myAliases"`
	Name              string          `json:"name"`
	Sandbox           string          `json:"sandbox"`
	SvcAliases        []string        `json:"svcAliases"`
	SvcID             string          `json:"svcID"`
	SvcName           string          `json:"svcName"`
	VirtualIP         string          `json:"virtualIP"`
}

type endpointIface struct {
	Addr      string `json:"addr"`
	DstPrefix string `json:"dstPrefix"`
	MAC       string `json:"mac"`
	Routes    []any  `json:"routes"`
	SrcName   string `json:"srcName"`
	V4PoolID  string `json:"v4PoolID"`
	V6PoolID  string `json:"v6PoolID"`
}

// encodeEndpoint writes ep, an endpoint of a network with pool id pool.
func encodeEndpoint(ep Endpoint, pool string) []byte {
	return mustJSON(endpointJSON{
		Iface: endpointIface{Addr: ep.Addr.String(), DstPrefix: "eth", MAC: ep.MAC.String(), SrcName: ep.SrcName, V4PoolID: pool},
		// Docker's empty ports are [], its absent ones null.
		ExposedPorts: []any{},
		Generic:      json.RawMessage(`{"com.docker.network.endpoint.exposedports":[],"com.docker.network.portmap":[]}`),
		ID:           ep.ID,
		JoinInfo:     json.RawMessage(`{"StaticRoutes":null,"disableGatewayService":false}`),
		Locator:      ep.VTEP.String(), MyAliases: orNone(ep.Aliases), Name: ep.Name, Sandbox: ep.Sandbox,
		// Go's fmt of a nil net.IP, as Docker writes an endpoint without one.
		VirtualIP: "<nil>",
	})
}

// decodeEndpoint reads the endpoint at key: Docker's value names its
// network only in the key.
func decodeEndpoint(key string, b []byte) (Endpoint, error) {
	networkID, id, ok := endpointIDs(key)
	if !ok {
		return Endpoint{}, fmt.Errorf("%s: not an endpoint's key", key)
	}
	var j endpointJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return Endpoint{}, err
	}
	ep := Endpoint{ID: id, Name: j.Name, NetworkID: networkID, Sandbox: j.Sandbox, Aliases: j.MyAliases, SrcName: j.Iface.SrcName}
	var err error
	if ep.VTEP, err = netip.ParseAddr(j.Locator); err != nil {
		return Endpoint{}, fmt.Errorf("endpoint %s: locator: %w", id, err)
	}
	if ep.Addr, err = netip.ParsePrefix(j.Iface.Addr); err != nil {
		return Endpoint{}, fmt.Errorf("endpoint %s: addr: %w", id, err)
	}
	if ep.MAC, err = net.ParseMAC(j.Iface.MAC); err != nil {
		return Endpoint{}, fmt.Errorf("endpoint %s: mac: %w", id, err)
	}
	return ep, nil
}

// overlayJSON is the overlay driver's record of a network.
type overlayJSON struct {
	MTU     int                 `json:"mtu"`
	Secure  bool                `json:"secure"`
	Subnets []overlaySubnetJSON `json:"subnets"`
}

type overlaySubnetJSON struct {
	SubnetIP string
	GwIP     string
	Vni      uint32
}

// optMTU is the driver option of an overlay network's MTU, which the
// record keeps.
const optMTU = "com.docker.network.driver.mtu"

func encodeOverlay(n Network) []byte {
	mtu, _ := strconv.Atoi(n.Options[optMTU])
	return mustJSON(overlayJSON{MTU: mtu, Subnets: []overlaySubnetJSON{{SubnetIP: n.Subnet.String(),
		GwIP: netip.PrefixFrom(n.Gateway, n.Subnet.Bits()).String(), Vni: n.VNI}}})
}

func decodeOverlay(b []byte) (overlayJSON, error) {
	var o overlayJSON
	if err := json.Unmarshal(b, &o); err != nil {
		return o, err
	}
	if len(o.Subnets) != 1 {
		return o, fmt.Errorf("overlay record of %d subnets, want 1", len(o.Subnets))
	}
	return o, nil
}

// endpointCountJSON is endpoint_count/<network id>.
type endpointCountJSON struct {
	Count uint64
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("store: encode: " + err.Error()) // plain data cannot fail
	}
	return b
}

// orEmpty is m, or an empty map for nil: Docker writes {} for none.
func orEmpty(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// orNone is s, or nil for an empty list: Docker writes null for none.
func orNone(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

// stringMap reads a JSON object of strings (other values are left out);
// nil for none.
func stringMap(raw json.RawMessage) map[string]string {
	var m map[string]any
	if json.Unmarshal(raw, &m) != nil || len(m) == 0 {
		return nil
	}
	out := map[string]string{}
	for k, v := range m {
		if s, ok := v.(string); ok {
			out[k] = s
		}
	}
	return out
}

// clone copies a network's maps, so that callers never share them.
func (n Network) clone() Network {
	n.Options = maps.Clone(n.Options)
	n.Labels = maps.Clone(n.Labels)
	return n
}

func (ep Endpoint) clone() Endpoint {
	ep.MAC = slices.Clone(ep.MAC)
	ep.Aliases = slices.Clone(ep.Aliases)
	return ep
}
