package macvlan

import (
	"fmt"
	"sync"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/netns"
)

var vlanProbe struct {
	sync.Once
	err error
}

// VLANProbe says whether this kernel makes 802.1Q VLAN links, which a
// `-o parent=eth1.10` network needs: nil if it does, else why not
// ("operation not supported" when the 8021q module is missing and cannot
// be loaded). It probes once per process, in a throwaway namespace that
// nobody else sees: a veth pair and a VLAN link on one end.
func VLANProbe() error {
	vlanProbe.Do(func() {
		vlanProbe.err = netns.DoFresh(func() error {
			h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
			if err != nil {
				return fmt.Errorf("netlink: %w", err)
			}
			defer h.Close()
			attrs := netlink.NewLinkAttrs()
			attrs.Name = "probe0"
			if err := h.LinkAdd(&netlink.Veth{LinkAttrs: attrs, PeerName: "probe1"}); err != nil {
				return fmt.Errorf("veth for the 802.1Q probe: %w", err)
			}
			lower, err := h.LinkByName("probe0")
			if err != nil {
				return fmt.Errorf("veth for the 802.1Q probe: %w", err)
			}
			va := netlink.NewLinkAttrs()
			va.Name = "probe0.10"
			va.ParentIndex = lower.Attrs().Index
			if err := h.LinkAdd(&netlink.Vlan{LinkAttrs: va, VlanId: 10}); err != nil {
				return fmt.Errorf("no 802.1Q VLAN support in this kernel (module 8021q): create a VLAN link in a scratch namespace: %w", err)
			}
			return nil
		})
	})
	return vlanProbe.err
}
