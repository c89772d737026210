package netns

import (
	"fmt"
	"net"
	"os"
	"testing"

	"github.com/vishvananda/netlink"
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
