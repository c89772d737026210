package kernel

import (
	"fmt"
	"sort"

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
	h, err := netns.Handle(ns)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	_, names, err := linkNames(h, ns)
	if err != nil {
		return nil, err
	}
	index := 0
	if dev != "" {
		if index = indexOf(names, dev); index == 0 {
			return nil, fmt.Errorf("%s: link %s: %w", ns, dev, ErrNotFound)
		}
	}
	list, err := netns.NeighList(h, index, family)
	if err != nil {
		return nil, fmt.Errorf("%s: neighbours: %w", ns, err)
	}
	out := make([]Neighbour, 0, len(list))
	for _, n := range list {
		e := Neighbour{
			MAC: n.HardwareAddr.String(), Dev: names[n.LinkIndex], Master: names[n.MasterIndex],
			Permanent: n.State&netlink.NUD_PERMANENT != 0, Self: n.Flags&netlink.NTF_SELF != 0,
		}
		if n.IP != nil {
			e.IP = n.IP.String()
		}
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Dev != b.Dev {
			return a.Dev < b.Dev
		}
		if a.MAC != b.MAC {
			return a.MAC < b.MAC
		}
		return a.IP < b.IP
	})
	return out, nil
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
	sort.Slice(out, func(a, b int) bool {
		if out[a].MAC != out[b].MAC {
			return out[a].MAC < out[b].MAC
		}
		return out[a].Port < out[b].Port
	})
	return out, nil
}
