package lab

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/netns"
	"github.com/nslab/nslab/undo"
)

// fabricConn holds a netlink handle and an nftables connection bound to a
// lab's fabric namespace.
type fabricConn struct {
	h     *netlink.Handle
	nft   *nftables.Conn
	table *nftables.Table
}

func openFabric(id string) (*fabricConn, error) {
	pin := netns.Path(id + "-" + fabricPinName)
	f := &fabricConn{table: &nftables.Table{Name: linkTable, Family: nftables.TableFamilyNetdev}}
	err := netns.Do(pin, func() error {
		var err error
		// Both sockets belong to the namespace they are opened in.
		if f.h, err = netlink.NewHandle(unix.NETLINK_ROUTE); err != nil {
			return fmt.Errorf("netlink: %w", err)
		}
		if f.nft, err = nftables.New(nftables.AsLasting()); err != nil {
			f.h.Close()
			return fmt.Errorf("nftables: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("fabric %s: %w", pin, err)
	}
	return f, nil
}

func (f *fabricConn) close() {
	f.h.Close()
	f.nft.CloseLasting()
}

// ifbName names the ifb device that shapes what a host sends through leg.
func ifbName(leg string) string { return leg + "-out" }

// chainName names the nftables chain that drops the lost share of one
// direction of leg.
func chainName(leg, way string) string { return leg + "-" + way }

// replace makes want the shaping of one direction of leg. Its undo step
// puts back what was there, telling failed when it cannot.
func (f *fabricConn) replace(ctx context.Context, leg, way string, want Shaping, u *undo.Steps, failed func(error)) error {
	old, err := f.read(leg, way)
	if err != nil {
		return err
	}
	if err := f.clear(leg, way); err != nil {
		return err
	}
	u.Add(func() {
		if err := errors.Join(f.clear(leg, way), f.apply(ctx, leg, way, old)); err != nil {
			failed(err)
		}
	})
	return f.apply(ctx, leg, way, want)
}

// apply shapes one direction of leg, which has no shaping. On failure it
// removes what it made.
func (f *fabricConn) apply(ctx context.Context, leg, way string, s Shaping) (err error) {
	if s.isZero() {
		return nil
	}
	defer func() {
		if err != nil {
			if cerr := f.clear(leg, way); cerr != nil {
				err = errors.Join(err, fmt.Errorf("and removing it again: %w", cerr))
			}
		}
	}()
	if s.Rate > 0 || s.Delay > 0 {
		dev, err := f.shapedDevice(ctx, leg, way)
		if err != nil {
			return err
		}
		if err := f.addQdiscs(dev, s); err != nil {
			return fmt.Errorf("%s (%s of %s): %w", dev.Attrs().Name, way, leg, err)
		}
	}
	if s.Loss > 0 {
		if err := f.addLoss(leg, way, s.Loss); err != nil {
			return fmt.Errorf("loss %s of %s: %w", way, leg, err)
		}
	}
	return nil
}

// shapedDevice returns the device whose root qdisc shapes one direction of
// leg: leg itself for what the host receives; for what it sends, an ifb
// that the leg's ingress is redirected to.
func (f *fabricConn) shapedDevice(ctx context.Context, leg, way string) (netlink.Link, error) {
	l, err := f.h.LinkByName(leg)
	if err != nil {
		return nil, fmt.Errorf("fabric end %s: %w", leg, err)
	}
	if way == DirIn {
		return l, nil
	}
	ifb := &netlink.Ifb{LinkAttrs: netlink.NewLinkAttrs()}
	ifb.Name = ifbName(leg)
	ifb.Flags = net.FlagUp
	if err := netns.RetryTransient(ctx, func() error { return f.h.LinkAdd(ifb) }); err != nil {
		return nil, fmt.Errorf("ifb %s: %w", ifb.Name, err)
	}
	dev, err := f.h.LinkByName(ifb.Name)
	if err != nil {
		return nil, fmt.Errorf("ifb %s: %w", ifb.Name, err)
	}
	if err := f.h.LinkSetUp(dev); err != nil {
		return nil, fmt.Errorf("ifb %s up: %w", ifb.Name, err)
	}
	ingress := &netlink.Ingress{QdiscAttrs: netlink.QdiscAttrs{LinkIndex: l.Attrs().Index, Parent: netlink.HANDLE_INGRESS, Handle: netlink.MakeHandle(0xffff, 0)}}
	if err := f.h.QdiscAdd(ingress); err != nil {
		return nil, fmt.Errorf("ingress qdisc on %s: %w", leg, err)
	}
	// u32 with one key of mask 0 matches every frame (tc's `match u32 0 0`).
	redirect := &netlink.U32{
		FilterAttrs: netlink.FilterAttrs{LinkIndex: l.Attrs().Index, Parent: netlink.HANDLE_INGRESS, Priority: 1, Protocol: unix.ETH_P_ALL},
		Sel:         &netlink.TcU32Sel{Flags: netlink.TC_U32_TERMINAL, Nkeys: 1, Keys: []netlink.TcU32Key{{}}},
		Actions:     []netlink.Action{netlink.NewMirredAction(dev.Attrs().Index)},
	}
	if err := f.h.FilterAdd(redirect); err != nil {
		return nil, fmt.Errorf("redirect %s to %s: %w", leg, ifb.Name, err)
	}
	return dev, nil
}

// addQdiscs puts a tbf (rate) and a netem (delay) at the root of dev, the
// netem under the tbf when there are both.
func (f *fabricConn) addQdiscs(dev netlink.Link, s Shaping) error {
	idx := dev.Attrs().Index
	netemParent := uint32(netlink.HANDLE_ROOT)
	if s.Rate > 0 {
		if err := f.h.QdiscAdd(tbf(idx, s.Rate, dev.Attrs().MTU)); err != nil {
			return fmt.Errorf("tbf rate %s: %w", FormatRate(s.Rate), err)
		}
		netemParent = netlink.MakeHandle(1, 1)
	}
	if s.Delay > 0 {
		q := netlink.NewNetem(netlink.QdiscAttrs{LinkIndex: idx, Parent: netemParent, Handle: netlink.MakeHandle(10, 0)},
			netlink.NetemQdiscAttrs{Latency: micros(s.Delay), Jitter: micros(s.Jitter)})
		if err := f.h.QdiscAdd(q); err != nil {
			return fmt.Errorf("netem delay %s: %w", s.Delay, err)
		}
	}
	return nil
}

func micros(d time.Duration) uint32 { return uint32(min(d.Microseconds(), math.MaxUint32)) }

// tbf is a token bucket of rate bits per second: a bucket of 10 ms at that
// rate, but at least two full frames, and a queue of 50 ms on top (tc's
// `tbf rate R burst B latency 50ms`).
func tbf(idx int, rate uint64, mtu int) *netlink.Tbf {
	bytesPerSec := rate / 8
	frame := uint64(mtu + 14)
	burst := max(bytesPerSec/100, 2*frame)
	limit := max(bytesPerSec/20+burst, 3*frame)
	return &netlink.Tbf{
		QdiscAttrs: netlink.QdiscAttrs{LinkIndex: idx, Parent: netlink.HANDLE_ROOT, Handle: netlink.MakeHandle(1, 0)},
		Rate:       bytesPerSec,
		Limit:      uint32(min(limit, math.MaxUint32)),
		Buffer:     netlink.Xmittime(bytesPerSec, uint32(min(burst, math.MaxUint32))),
	}
}

// addLoss adds the chain that drops loss percent of one direction of leg:
// `numgen random mod 10000 < N counter drop` on the leg's ingress hook (out)
// or egress hook (in).
func (f *fabricConn) addLoss(leg, way string, loss float64) error {
	hook := nftables.ChainHookEgress
	if way == DirOut {
		hook = nftables.ChainHookIngress
	}
	f.nft.AddTable(f.table)
	c := f.nft.AddChain(&nftables.Chain{
		Name: chainName(leg, way), Table: f.table, Type: nftables.ChainTypeFilter,
		Hooknum: hook, Priority: nftables.ChainPriorityFilter, Device: leg,
	})
	threshold := uint32(math.Round(loss * lossSteps / 100))
	f.nft.AddRule(&nftables.Rule{Table: f.table, Chain: c, Exprs: []expr.Any{
		&expr.Numgen{Register: 1, Modulus: lossSteps, Type: unix.NFT_NG_RANDOM},
		// The comparison is bytewise: the number goes big-endian first,
		// as nft(8) does it.
		&expr.Byteorder{SourceRegister: 1, DestRegister: 1, Op: expr.ByteorderHton, Len: 4, Size: 4},
		&expr.Cmp{Op: expr.CmpOpLt, Register: 1, Data: binary.BigEndian.AppendUint32(nil, threshold)},
		&expr.Counter{},
		&expr.Verdict{Kind: expr.VerdictDrop},
	}})
	return f.nft.Flush()
}

// clear removes what shapes one direction of leg; what is not there is
// fine.
func (f *fabricConn) clear(leg, way string) error {
	var errs []error
	if c := f.lossChain(leg, way); c != nil {
		f.nft.DelChain(c)
		if err := f.nft.Flush(); err != nil {
			errs = append(errs, fmt.Errorf("delete chain %s: %w", c.Name, err))
		}
	}
	l, err := f.h.LinkByName(leg)
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("fabric end %s: %w", leg, err))...)
	}
	if way == DirIn {
		if err := f.delQdisc(l, netlink.HANDLE_ROOT); err != nil {
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	}
	// The redirect goes with the ingress qdisc, before its target: a
	// mirred action whose device is gone drops every frame.
	if err := f.delQdisc(l, netlink.HANDLE_INGRESS); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, netns.DeleteLink(f.h, ifbName(leg)))
	return errors.Join(errs...)
}

// delQdisc deletes l's qdisc with the given parent (root or ingress), if
// it has one.
func (f *fabricConn) delQdisc(l netlink.Link, parent uint32) error {
	qs, err := f.h.QdiscList(l)
	if err != nil {
		return fmt.Errorf("qdiscs of %s: %w", l.Attrs().Name, err)
	}
	for _, q := range qs {
		if q.Attrs().Parent == parent && q.Type() != "noqueue" {
			if err := f.h.QdiscDel(q); err != nil {
				return fmt.Errorf("delete %s qdisc of %s: %w", q.Type(), l.Attrs().Name, err)
			}
		}
	}
	return nil
}

// lossChain returns the loss chain of one direction of leg, or nil.
func (f *fabricConn) lossChain(leg, way string) *nftables.Chain {
	chains, err := f.nft.ListChainsOfTableFamily(nftables.TableFamilyNetdev)
	if err != nil {
		return nil // no netdev table at all
	}
	for _, c := range chains {
		if c.Table.Name == linkTable && c.Name == chainName(leg, way) {
			return c
		}
	}
	return nil
}

// read returns what shapes one direction of leg, from the kernel.
func (f *fabricConn) read(leg, way string) (Shaping, error) {
	var s Shaping
	dev, err := f.h.LinkByName(leg)
	if way == DirOut {
		// No ifb: nothing shapes what the host sends.
		dev, err = netns.FindLink(f.h, ifbName(leg))
	}
	if err != nil {
		return s, fmt.Errorf("%s of %s: %w", way, leg, err)
	}
	if dev != nil {
		qs, err := f.h.QdiscList(dev)
		if err != nil {
			return s, fmt.Errorf("qdiscs of %s: %w", dev.Attrs().Name, err)
		}
		for _, q := range qs {
			switch q := q.(type) {
			case *netlink.Tbf:
				s.Rate = q.Rate * 8
			case *netlink.Netem:
				usec := netlink.TickInUsec()
				s.Delay = time.Duration(float64(q.Latency)/usec) * time.Microsecond
				s.Jitter = time.Duration(float64(q.Jitter)/usec) * time.Microsecond
			}
		}
	}
	if c := f.lossChain(leg, way); c != nil {
		rules, err := f.nft.GetRules(f.table, c)
		if err != nil {
			return s, fmt.Errorf("rules of chain %s: %w", c.Name, err)
		}
		for _, r := range rules {
			s.Loss, s.Dropped = lossOf(r)
		}
	}
	return s, nil
}

// lossOf reads a loss rule back: its share and how many frames it dropped.
func lossOf(r *nftables.Rule) (loss float64, dropped uint64) {
	var modulus uint32
	for _, e := range r.Exprs {
		switch e := e.(type) {
		case *expr.Numgen:
			modulus = e.Modulus
		case *expr.Cmp:
			if len(e.Data) == 4 && modulus > 0 {
				loss = float64(binary.BigEndian.Uint32(e.Data)) * 100 / float64(modulus)
			}
		case *expr.Counter:
			dropped = e.Packets
		}
	}
	return math.Round(loss*100) / 100, dropped
}
