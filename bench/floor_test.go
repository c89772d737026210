package bench

import (
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/nslab/nslab/netns"
)

// kernelFloor makes n hosts as Mininet's are made, with nothing besides:
// for each, a network namespace with its loopback up (held by a file
// descriptor, unpinned), a veth whose one end joins a bridge and whose
// other end, moved into the namespace at its creation, gets an address
// and goes up; two hosts at a time, as Up builds them on two CPUs. Down
// closes the descriptors, and the kernel destroys the namespaces with
// their veths afterwards, as it does for nslab's and Mininet's hosts. It
// returns the time of both: what the kernel alone asks of one host, the
// floor under any tool's figure.
func kernelFloor(b *testing.B, n int) time.Duration {
	b.Helper()
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "s1", Flags: net.FlagUp}}
	fabric, err := netns.NewFresh(nil)
	if err == nil {
		defer fabric.Close()
		err = fabric.Handle.LinkAdd(br)
	}
	if err != nil {
		b.Fatal(err)
	}
	hosts := make([]netns.Fresh, n)
	jobs := make(chan int)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	t0 := time.Now()
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				h, err := floorHost(fabric.Handle, br.Index, i)
				hosts[i] = h
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	for i := range n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	for _, h := range hosts {
		h.Close()
	}
	took := time.Since(t0)
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	return took
}

// floorHost makes host i of kernelFloor: its namespace and its veth,
// addressed (10.0.0.i/8) and up.
func floorHost(fabric *netlink.Handle, bridge, i int) (netns.Fresh, error) {
	h, err := netns.NewFresh(nil)
	if err != nil {
		return h, err
	}
	v := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: fmt.Sprintf("h%d-eth0", i+1), MasterIndex: bridge, Flags: net.FlagUp},
		PeerName:      "eth0",
		PeerNamespace: netlink.NsFd(h.FD),
	}
	if err := fabric.LinkAdd(v); err != nil {
		return h, fmt.Errorf("veth of host %d: %w", i+1, err)
	}
	eth0, err := h.Handle.LinkByName("eth0")
	if err != nil {
		return h, err
	}
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: net.IPv4(10, 0, byte((i+1)>>8), byte(i+1)), Mask: net.CIDRMask(8, 32)}}
	if err := h.Handle.AddrAdd(eth0, addr); err != nil {
		return h, err
	}
	return h, h.Handle.LinkSetUp(eth0)
}
