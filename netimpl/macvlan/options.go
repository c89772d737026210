package macvlan

import (
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"

	"github.com/nslab/nslab/netimpl"
)

// The driver options, as `network create -o` takes them.
const (
	OptParent = "parent"
	OptMode   = "macvlan_mode"
)

// The macvlan modes `-o macvlan_mode=` accepts.
const (
	ModeBridge   = "bridge"
	ModePrivate  = "private"
	ModeVEPA     = "vepa"
	ModePassthru = "passthru"
)

var modes = map[string]netlink.MacvlanMode{
	ModeBridge:   netlink.MACVLAN_MODE_BRIDGE,
	ModePrivate:  netlink.MACVLAN_MODE_PRIVATE,
	ModeVEPA:     netlink.MACVLAN_MODE_VEPA,
	ModePassthru: netlink.MACVLAN_MODE_PASSTHRU,
}

// options are a network's parsed settings.
type options struct {
	parent   string
	modeName string
	mode     netlink.MacvlanMode
	// internal: no parent was given, or --internal; the parent is then a
	// dummy of the driver's.
	internal bool
}

// dummyName is libnetwork's name for the parent of a network without one:
// "dm-" and the first 12 hex of the network id.
func dummyName(networkID string) string { return "dm-" + networkID[:12] }

// parseOptions reads a network's options in libnetwork's order and with
// its messages (all "500 Internal Server Error" in dockerd). Only the
// syntax of a VLAN parent is checked here; whether its lower link exists
// is the kernel's question.
func parseOptions(n *netimpl.Network) (options, error) {
	o := options{parent: n.Options[OptParent], modeName: n.Options[OptMode]}
	if n.Internal {
		// libnetwork: "empty --parent= and --internal are handled the same".
		o.parent = ""
	}
	if o.modeName == "" {
		o.modeName = ModeBridge
	}
	mode, ok := modes[o.modeName]
	if !ok {
		return o, netimpl.Errorf(netimpl.KindUnknown, "requested macvlan mode '%s' is not valid, 'bridge' mode is the macvlan driver default", o.modeName)
	}
	o.mode = mode
	if o.parent == "lo" {
		return o, netimpl.Errorf(netimpl.KindUnknown, "loopback interface is not a valid macvlan parent link")
	}
	if o.parent == "" {
		o.parent = dummyName(n.ID)
		o.internal = true
	}
	return o, nil
}

// parseVLAN reads "<link>.<id>" as libnetwork's parseVlan does, without
// its check that the lower link exists.
func parseVLAN(parent string) (lower string, id int, err error) {
	parts := strings.Split(parent, ".")
	if len(parts) != 2 {
		return "", 0, netimpl.Errorf(netimpl.KindUnknown, "required interface name format is: name.vlan_id, ex. eth0.10 for vlan 10, instead received %s", parent)
	}
	id, err = strconv.Atoi(parts[1])
	if err != nil {
		return "", 0, netimpl.Errorf(netimpl.KindUnknown, "unable to parse a valid vlan id from: %s (ex. eth0.10 for vlan 10)", parts[1])
	}
	return parts[0], id, nil
}

// checkVLANID is the 12-bit VID's range, 0 and 4095 being reserved.
func checkVLANID(id int) error {
	if id < 1 || id > 4094 {
		return netimpl.Errorf(netimpl.KindUnknown, "vlan id must be between 1-4094, received: %d", id)
	}
	return nil
}
