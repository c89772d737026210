package netns

import (
	"net"
	"os"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
)

// TestWriteRTNLSysctl: the value lands in the calling thread's namespace,
// and a second write of the same value is a no-op that still succeeds.
func TestWriteRTNLSysctl(t *testing.T) {
	needRoot(t)
	const key, path = "net/ipv4/ip_forward", "/proc/sys/net/ipv4/ip_forward"
	err := DoFresh(func() error {
		for range 2 {
			if err := WriteRTNLSysctl(key, "1"); err != nil {
				return err
			}
			if b, err := os.ReadFile(path); err != nil || strings.TrimSpace(string(b)) != "1" {
				t.Errorf("after the write: %q %v", b, err)
			}
		}
		if err := WriteRTNLSysctl(key, "0"); err != nil {
			return err
		}
		if b, err := os.ReadFile(path); err != nil || strings.TrimSpace(string(b)) != "0" {
			t.Errorf("after writing 0: %q %v", b, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestDisableIPv6: a namespace whose IPv6 is off before its loopback comes
// up has no ::1, and an interface made later takes the setting.
func TestDisableIPv6(t *testing.T) {
	needRoot(t)
	err := DoFresh(func() error {
		if err := DisableIPv6(); err != nil {
			return err
		}
		lo := &netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: 1, Name: "lo"}}
		if err := netlink.LinkSetUp(lo); err != nil {
			return err
		}
		addrs, err := netlink.AddrList(lo, netlink.FAMILY_V6)
		if err != nil {
			return err
		}
		if len(addrs) != 0 {
			t.Errorf("lo has IPv6 addresses: %v", addrs)
		}
		br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "br0", Flags: net.FlagUp}}
		if err := netlink.LinkAdd(br); err != nil {
			return err
		}
		b, err := os.ReadFile("/proc/sys/net/ipv6/conf/br0/disable_ipv6")
		if err != nil {
			return err
		}
		if strings.TrimSpace(string(b)) != "1" {
			t.Errorf("a new interface's disable_ipv6 is %q", b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
