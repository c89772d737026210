package kernel

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/netns"
)

// Neighbour is one entry of a neighbour table (ARP, `ip neigh`) or, in
// the AF_BRIDGE family, of a forwarding database (`bridge fdb`).
type Neighbour struct {
	IP  string // empty for a forwarding entry without one
	MAC string
	// Dev is the link the entry belongs to: for a bridge's learned
	// entries the port the MAC was seen on, for a VXLAN device's the
	// device itself.
	Dev string
	// Master is the bridge of a port's entry ("" for the device's own).
	Master string
	// Permanent: the entry never ages out (NUD_PERMANENT): a static
	// neighbour, a static FDB entry, or a port's own address.
	Permanent bool
	// Self: the entry is the device's own (NTF_SELF), as VXLAN's FDB
	// entries that point at a remote tunnel endpoint are.
	Self bool
}

// Neighbours dumps the neighbour entries of family (netlink.FAMILY_V4, or
// unix.AF_BRIDGE for forwarding entries) of the link named dev ("" for
// every link) in the namespace at ns, sorted by device, MAC and IP.
func Neighbours(ns, dev string, family int) ([]Neighbour, error) {
	return read(ns, func(v *view) ([]Neighbour, error) {
		index := 0
		if dev != "" {
			if index = indexOf(v.names, dev); index == 0 {
				return nil, fmt.Errorf("%s: link %s: %w", ns, dev, ErrNotFound)
			}
		}
		list, err := netns.NeighList(v.h, index, family)
		if err != nil {
			return nil, fmt.Errorf("%s: neighbours: %w", ns, err)
		}
		out := make([]Neighbour, 0, len(list))
		for _, n := range list {
			e := Neighbour{
				MAC: n.HardwareAddr.String(), Dev: v.names[n.LinkIndex], Master: v.names[n.MasterIndex],
				Permanent: n.State&netlink.NUD_PERMANENT != 0, Self: n.Flags&netlink.NTF_SELF != 0,
			}
			if n.IP != nil {
				e.IP = n.IP.String()
			}
			out = append(out, e)
		}
		slices.SortFunc(out, func(a, b Neighbour) int {
			return cmp.Or(strings.Compare(a.Dev, b.Dev), strings.Compare(a.MAC, b.MAC), strings.Compare(a.IP, b.IP))
		})
		return out, nil
	})
}

func indexOf(names map[int]string, name string) int {
	for i, n := range names {
		if n == name {
			return i
		}
	}
	return 0
}

// FDBEntry is one entry of a bridge's forwarding database, as `brctl
// showmacs` lists it.
type FDBEntry struct {
	MAC   string
	Port  string // the bridge port the MAC was learned on (or belongs to)
	Local bool   // the port's own address ("is local? yes")
}

// FDB dumps the forwarding database of the named bridge in the namespace
// at ns: the entries on its ports, not the bridge device's own, sorted by
// MAC and port.
func FDB(ns, bridge string) ([]FDBEntry, error) {
	if _, err := LinkNamed(ns, bridge); err != nil {
		return nil, err
	}
	// A dump filtered by the bridge's index would return only the entries
	// of the bridge device itself; learned entries carry their port's
	// index and the bridge as NDA_MASTER, so dump all and keep those.
	all, err := Neighbours(ns, "", unix.AF_BRIDGE)
	if err != nil {
		return nil, err
	}
	var out []FDBEntry
	for _, n := range all {
		if n.Master != bridge || n.Dev == bridge || n.MAC == "" {
			continue
		}
		out = append(out, FDBEntry{MAC: n.MAC, Port: n.Dev, Local: n.Permanent})
	}
	slices.SortFunc(out, func(a, b FDBEntry) int {
		return cmp.Or(strings.Compare(a.MAC, b.MAC), strings.Compare(a.Port, b.Port))
	})
	return out, nil
}
