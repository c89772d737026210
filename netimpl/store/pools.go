package store

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"

	"github.com/nslab/nslab/netimpl"
	"github.com/nslab/nslab/netimpl/ipam"
)

// poolSpace is the value of ipam/default/config/GlobalDefault: libnetwork's
// pools of the global address space by key, "GlobalDefault/<subnet>" for a
// subnet ("master pool") and "GlobalDefault/<subnet>/<ip-range>" for the
// range of a network created with --ip-range, which counts as a reference
// to its subnet: a subnet goes when no network and no range holds it.
type poolSpace struct {
	subnets map[string]*poolData
}

type poolData struct {
	ParentKey subnetKey
	Pool      netip.Prefix
	Range     *addressRange
	RefCount  int
}

// subnetKey is libnetwork's SubnetKey; a master pool's is empty.
type subnetKey struct {
	AddressSpace string
	Subnet       string
	ChildSubnet  string
}

// addressRange is the ordinals, in its subnet, of an --ip-range.
type addressRange struct {
	Sub        netip.Prefix
	Start, End uint64
}

// poolID is libnetwork's pool id of a subnet and optional range.
func poolID(subnet, rng netip.Prefix) string {
	if rng.IsValid() {
		return addressSpace + "/" + subnet.String() + "/" + rng.String()
	}
	return addressSpace + "/" + subnet.String()
}

func newPoolSpace() *poolSpace { return &poolSpace{subnets: map[string]*poolData{}} }

func (ps *poolSpace) clone() *poolSpace {
	c := newPoolSpace()
	for k, p := range ps.subnets {
		cp := *p
		if p.Range != nil {
			r := *p.Range
			cp.Range = &r
		}
		c.subnets[k] = &cp
	}
	return c
}

// masters are the subnets taken.
func (ps *poolSpace) masters() []netip.Prefix {
	var out []netip.Prefix
	for _, p := range ps.subnets {
		if p.Range == nil {
			out = append(out, p.Pool)
		}
	}
	return out
}

// add takes subnet (and, valid, its range rng), as libnetwork's
// updatePoolDBOnAdd: a subnet overlapping one taken is refused, a range
// of a subnet taken holds it once more. It says whether the subnet is
// new, and so needs its bitmask.
func (ps *poolSpace) add(subnet, rng netip.Prefix) (bool, error) {
	id := poolID(subnet, rng)
	if _, dup := ps.subnets[id]; dup {
		return false, netimpl.Errorf(netimpl.KindForbidden, "%v", ipam.ErrPoolOverlap)
	}
	master := poolID(subnet, netip.Prefix{})
	if !rng.IsValid() {
		for _, m := range ps.masters() {
			if m.Overlaps(subnet) {
				return false, netimpl.Errorf(netimpl.KindForbidden, "%v", ipam.ErrPoolOverlap)
			}
		}
		ps.subnets[master] = &poolData{Pool: subnet, RefCount: 1}
		return true, nil
	}
	ps.subnets[id] = &poolData{ParentKey: subnetKey{AddressSpace: addressSpace, Subnet: subnet.String()}, Pool: subnet,
		Range: &addressRange{Sub: rng, Start: ordinal(subnet, rng.Addr()), End: ordinal(subnet, lastAddr(rng))}, RefCount: 1}
	if m, ok := ps.subnets[master]; ok {
		m.RefCount++
		return false, nil
	}
	ps.subnets[master] = &poolData{Pool: subnet, RefCount: 1}
	return true, nil
}

// remove gives back what add took; it says whether the subnet went, and
// its bitmask with it.
func (ps *poolSpace) remove(subnet, rng netip.Prefix) bool {
	master := poolID(subnet, netip.Prefix{})
	if rng.IsValid() {
		if _, ok := ps.subnets[poolID(subnet, rng)]; !ok {
			return false
		}
		delete(ps.subnets, poolID(subnet, rng))
	}
	m, ok := ps.subnets[master]
	if !ok {
		return false
	}
	if m.RefCount--; m.RefCount > 0 {
		return false
	}
	delete(ps.subnets, master)
	return true
}

// The JSON, with libnetwork's field names and its maps' sorted keys.
type poolDataJSON struct {
	ParentKey subnetKey         `json:"ParentKey"`
	Pool      string            `json:"Pool"`
	Range     *addressRangeJSON `json:"Range,omitempty"`
	RefCount  int               `json:"RefCount"`
}

type addressRangeJSON struct {
	End   uint64 `json:"End"`
	Start uint64 `json:"Start"`
	Sub   string `json:"Sub"`
}

type poolSpaceJSON struct {
	Scope   string                  `json:"Scope"`
	Subnets map[string]poolDataJSON `json:"Subnets"`
}

// encode writes the value; scope is "global" when the key is made and ""
// when it is written again, as Docker 20.10 leaves it.
func (ps *poolSpace) encode(scope string) []byte {
	j := poolSpaceJSON{Scope: scope, Subnets: map[string]poolDataJSON{}}
	for k, p := range ps.subnets {
		pj := poolDataJSON{ParentKey: p.ParentKey, Pool: p.Pool.String(), RefCount: p.RefCount}
		if p.Range != nil {
			pj.Range = &addressRangeJSON{End: p.Range.End, Start: p.Range.Start, Sub: p.Range.Sub.String()}
		}
		j.Subnets[k] = pj
	}
	out, _ := json.Marshal(j)
	return out
}

func decodePoolSpace(b []byte) (*poolSpace, error) {
	var j poolSpaceJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return nil, err
	}
	ps := newPoolSpace()
	for k, pj := range j.Subnets {
		if !strings.HasPrefix(k, addressSpace+"/") {
			continue
		}
		p := &poolData{ParentKey: pj.ParentKey, RefCount: pj.RefCount}
		var err error
		if p.Pool, err = netip.ParsePrefix(pj.Pool); err != nil {
			return nil, fmt.Errorf("pool %s: %w", k, err)
		}
		if pj.Range != nil {
			sub, err := netip.ParsePrefix(pj.Range.Sub)
			if err != nil {
				return nil, fmt.Errorf("pool %s: range: %w", k, err)
			}
			p.Range = &addressRange{Sub: sub, Start: pj.Range.Start, End: pj.Range.End}
		}
		ps.subnets[k] = p
	}
	return ps, nil
}

// ordinal is a's offset in subnet p: its bit in the subnet's bitmask.
func ordinal(p netip.Prefix, a netip.Addr) uint64 {
	b, x := p.Masked().Addr().As4(), a.As4()
	return uint64(be32(x) - be32(b))
}

// addrAt is the address at an ordinal of subnet p.
func addrAt(p netip.Prefix, o uint64) netip.Addr {
	v := be32(p.Masked().Addr().As4()) + uint32(o)
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

func be32(b [4]byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// lastAddr is the last address of p (its broadcast address).
func lastAddr(p netip.Prefix) netip.Addr { return addrAt(p, size(p)-1) }

// size is the number of addresses of p.
func size(p netip.Prefix) uint64 { return 1 << (32 - p.Bits()) }
