package bridge

import (
	"fmt"
	"net/netip"
	"strconv"

	"github.com/nslab/nslab/netimpl"
)

// The driver options Docker 20.10 knows, as `network create -o` takes them
// and `network inspect` shows them.
const (
	OptBridgeName    = "com.docker.network.bridge.name"
	OptDefaultBridge = "com.docker.network.bridge.default_bridge"
	OptICC           = "com.docker.network.bridge.enable_icc"
	OptMasquerade    = "com.docker.network.bridge.enable_ip_masquerade"
	OptHostBinding   = "com.docker.network.bridge.host_binding_ipv4"
	OptMTU           = "com.docker.network.driver.mtu"
)

// DefaultNetworkOptions are the options dockerd gives its default network,
// as `network inspect bridge` shows them.
func DefaultNetworkOptions() map[string]string {
	return map[string]string{
		OptDefaultBridge: "true",
		OptICC:           "true",
		OptMasquerade:    "true",
		OptHostBinding:   "0.0.0.0",
		OptBridgeName:    DefaultBridgeName,
		OptMTU:           "1500",
	}
}

// options are a network's parsed settings.
type options struct {
	bridge        string
	defaultBridge bool
	icc           bool
	masquerade    bool
	internal      bool
	hostBinding   netip.Addr
	mtu           int // 0: the kernel's default (1500)
}

// parseOptions reads a network's options with Docker's defaults and
// Docker's error texts ("failed to parse <option> value: <v> (<reason>)").
func parseOptions(n *netimpl.Network) (options, error) {
	o := options{icc: true, masquerade: true, internal: n.Internal, hostBinding: netip.IPv4Unspecified()}
	var err error
	// A fixed order, so that of two bad options the same one is reported.
	for _, k := range []string{OptBridgeName, OptDefaultBridge, OptICC, OptMasquerade, OptHostBinding, OptMTU} {
		v, ok := n.Options[k]
		if !ok {
			continue
		}
		switch k {
		case OptBridgeName:
			o.bridge = v
		case OptDefaultBridge:
			o.defaultBridge, err = strconv.ParseBool(v)
		case OptICC:
			o.icc, err = strconv.ParseBool(v)
		case OptMasquerade:
			o.masquerade, err = strconv.ParseBool(v)
		case OptHostBinding:
			o.hostBinding, err = netip.ParseAddr(v)
		case OptMTU:
			o.mtu, err = strconv.Atoi(v)
		}
		if err != nil {
			return o, netimpl.Errorf(netimpl.KindUnknown, "failed to parse %s value: %s (%v)", k, v, err)
		}
	}
	if o.mtu != 0 && (o.mtu < 68 || o.mtu > 65535) {
		return o, netimpl.Errorf(netimpl.KindInvalid, "invalid MTU number: %d", o.mtu)
	}
	if o.bridge == "" {
		o.bridge = "br-" + n.ID[:12]
	}
	if err := checkIfName(o.bridge); err != nil {
		return o, netimpl.Errorf(netimpl.KindInvalid, "invalid bridge name %q: %v", o.bridge, err)
	}
	return o, nil
}

// checkIfName is the kernel's rule for interface names.
func checkIfName(name string) error {
	if name == "" || len(name) > 15 {
		return fmt.Errorf("an interface name has 1 to 15 bytes")
	}
	if name == "." || name == ".." {
		return fmt.Errorf("not a name")
	}
	for _, c := range name {
		if c == '/' || c == ':' || c <= ' ' || c == 0x7f {
			return fmt.Errorf("character %q is not allowed", c)
		}
	}
	return nil
}
