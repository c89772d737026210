package store

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"
)

func newLocal(t *testing.T) *Local {
	t.Helper()
	s, err := NewLocal(Host{Name: "node1", Advertise: netip.MustParseAddrPort("192.168.8.150:2375")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestLocalConformance(t *testing.T) {
	s := newLocal(t)
	conformance(t, s, s)
}

// Concurrent creates and allocations never take anything twice, and the
// lowest-free rule leaves no gaps.
func TestLocalConcurrentAllocations(t *testing.T) {
	s := newLocal(t)
	nets, addrs := allocateConcurrently(t, []Store{s}, 50)
	checkDense(t, nets, addrs, 50)
}

// A watch that is not read does not stall the store, and its channel
// closes when its context ends.
func TestLocalWatchDoesNotBlock(t *testing.T) {
	s := newLocal(t)
	ctx, cancel := context.WithCancel(context.Background())
	events := s.Watch(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 100 {
			if _, err := s.CreateNetwork(context.Background(), Network{ID: fmt.Sprintf("net%013d", i), Name: fmt.Sprintf("n%d", i)}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("creates blocked on an unread watch")
	}
	cancel()
	for range events {
	}
}

// allocateConcurrently creates n networks, then takes their VNIs, then n
// addresses on the first of them, each from its own goroutine, spread over
// the clients.
func allocateConcurrently(t *testing.T, clients []Store, n int) ([]Network, []netip.Prefix) {
	t.Helper()
	ctx := context.Background()
	nets := make([]Network, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := clients[i%len(clients)]
			nets[i], errs[i] = c.CreateNetwork(ctx, Network{ID: fmt.Sprintf("conc%012d", i), Name: fmt.Sprintf("conc%d", i)})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("create %d: %v", i, err)
		}
	}
	// Their first joins take their VNIs.
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nets[i].VNI, errs[i] = clients[(i+1)%len(clients)].EnsureVNI(ctx, nets[i].ID)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("VNI %d: %v", i, err)
		}
	}
	addrs := make([]netip.Prefix, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := clients[i%len(clients)]
			addrs[i], errs[i] = c.AllocateAddress(ctx, nets[0].ID, netip.Addr{})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("address %d: %v", i, err)
		}
	}
	return nets, addrs
}

// checkDense requires n distinct subnets 10.0.0.0/24 … and VNIs 256 …,
// and n distinct addresses of nets[0] from .2 up, with nothing skipped.
func checkDense(t *testing.T, nets []Network, addrs []netip.Prefix, n int) {
	t.Helper()
	subnets, vnis, ips := map[netip.Prefix]string{}, map[uint32]string{}, map[netip.Prefix]bool{}
	for _, nw := range nets {
		if other, dup := subnets[nw.Subnet]; dup {
			t.Errorf("subnet %s taken by %s and %s", nw.Subnet, other, nw.Name)
		}
		if other, dup := vnis[nw.VNI]; dup {
			t.Errorf("VNI %d taken by %s and %s", nw.VNI, other, nw.Name)
		}
		subnets[nw.Subnet], vnis[nw.VNI] = nw.Name, nw.Name
	}
	for _, a := range addrs {
		if ips[a] {
			t.Errorf("address %s handed out twice", a)
		}
		ips[a] = true
	}
	for i := range n {
		if _, ok := subnets[netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, byte(i), 0}), 24)]; !ok {
			t.Errorf("subnet 10.0.%d.0/24 not taken: allocation skipped one", i)
		}
		if _, ok := vnis[uint32(FirstVNI+i)]; !ok {
			t.Errorf("VNI %d not taken", FirstVNI+i)
		}
		// The addresses are nets[0]'s, whichever subnet it got.
		b := nets[0].Subnet.Addr().As4()
		b[3] = byte(2 + i)
		if want := netip.PrefixFrom(netip.AddrFrom4(b), 24); !ips[want] {
			t.Errorf("address %s not taken", want)
		}
	}
}

// After Close, watches end and changes fail as unavailable.
func TestLocalClose(t *testing.T) {
	s := newLocal(t)
	events := s.Watch(context.Background())
	if ev := <-events; ev.Kind != Synced {
		t.Fatalf("first event %v", ev.Kind)
	}
	s.Close()
	select {
	case _, ok := <-events:
		if ok {
			t.Error("an event after Close")
		}
	case <-time.After(time.Second):
		t.Error("watch still open a second after Close")
	}
	_, err := s.CreateNetwork(context.Background(), Network{ID: "net1aaaaaaaaaaaa", Name: "ov_net1"})
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("create after Close: %v", err)
	}
}
