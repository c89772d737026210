package netns

import (
	"fmt"
	"net"
	"os"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

func TestPool(t *testing.T) {
	needRoot(t)
	p := NewPool(2, func() error { return os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0o644) })
	f, err := p.Get()
	if err != nil {
		t.Fatal(err)
	}
	links, err := LinkList(f.Handle)
	if err != nil || len(links) != 1 || links[0].Attrs().Name != "lo" || links[0].Attrs().Flags&net.FlagUp == 0 {
		t.Fatalf("fresh namespace: %v %v", links, err)
	}
	name := fmt.Sprintf("nspool%d", os.Getpid())
	path, err := NewPins(nil).PinFD(f.FD, name)
	if err != nil {
		t.Fatal(err)
	}
	defer Delete(path)
	defer f.Close()
	h := f.Handle
	// The pin is the namespace the handle works in.
	h2, err := Handle(path)
	if err != nil {
		t.Fatal(err)
	}
	defer h2.Close()
	if err := h.LinkSetDown(&netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: 1}}); err != nil {
		t.Fatal(err)
	}
	lo, err := h2.LinkByIndex(1)
	if err != nil || lo.Attrs().Flags&net.FlagUp != 0 {
		t.Fatalf("lo seen through the pin: %v %v", lo, err)
	}
	// setup ran inside the new namespace, not in the caller's.
	var fwd []byte
	if err := Do(path, func() (err error) { fwd, err = os.ReadFile("/proc/sys/net/ipv4/ip_forward"); return }); err != nil || string(fwd) != "1\n" {
		t.Fatalf("setup in the namespace: %q %v", fwd, err)
	}
	p.Close()
	if _, err := p.Get(); err != ErrPoolClosed {
		t.Fatalf("Get after Close: %v", err)
	}
}

// TestPoolFillerYields: the filler makes its namespaces on a thread of the
// lowest priority (nice 19), so that it takes no CPU the starts could use;
// a namespace made by the caller when the pool is empty is made at the
// caller's priority.
func TestPoolFillerYields(t *testing.T) {
	needRoot(t)
	// niceOf returns a setup that sends the nice value of the thread it
	// runs on (getpriority(2) returns 20 - nice).
	niceOf := func(nices chan<- int) func() error {
		return func() error {
			prio, err := unix.Getpriority(unix.PRIO_PROCESS, 0)
			if err != nil {
				return err
			}
			nices <- 20 - prio
			return nil
		}
	}
	filled := make(chan int, 4)
	p := NewPool(1, niceOf(filled))
	defer p.Close()
	if nice := <-filled; nice != 19 {
		t.Fatalf("the filler made a namespace at nice %d, want 19", nice)
	}
	prio, err := unix.Getpriority(unix.PRIO_PROCESS, 0)
	if err != nil {
		t.Fatal(err)
	}
	made := make(chan int, 1)
	f, err := NewFresh(niceOf(made))
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if nice := <-made; nice != 20-prio {
		t.Fatalf("NewFresh made a namespace at nice %d, want the caller's %d", nice, 20-prio)
	}
}

// TestPoolMakesNoMoreThanItsSize: the filler makes size namespaces ahead
// and no more (each one unused costs the kernel as much as a container's
// start), then one for each handed out, once its taker says (Refill); a
// Get that finds the pool empty makes again what was taken, said or not.
func TestPoolMakesNoMoreThanItsSize(t *testing.T) {
	needRoot(t)
	made := make(chan struct{}, 16)
	p := NewPool(2, func() error { made <- struct{}{}; return nil })
	defer p.Close()
	waitMade := func(want int) {
		t.Helper()
		for range want {
			select {
			case <-made:
			case <-time.After(10 * time.Second):
				t.Fatalf("the filler made fewer than %d", want)
			}
		}
		select {
		case <-made:
			t.Fatalf("the filler made more than %d", want)
		case <-time.After(200 * time.Millisecond):
		}
	}
	get := func() {
		t.Helper()
		f, err := p.Get()
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	waitMade(2)
	get()
	waitMade(0) // not before Refill
	p.Refill()
	waitMade(1)
	p.Refill() // nothing taken since
	waitMade(0)
	get()
	get()
	waitMade(0)
	get()       // the pool is empty: this one is made by Get
	waitMade(3) // and the two taken are made again, and Get's own
}
