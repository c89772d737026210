package labtest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/netns"
)

// Feature is something of the kernel a lab or a test may need.
type Feature string

// The features Up checks for a topology, and RequireKernel for a test.
const (
	// Macvlan links: `docker network create -d macvlan`.
	Macvlan Feature = "macvlan"
	// VXLAN links: overlay networks (a topology with a cluster store).
	VXLAN Feature = "vxlan"
	// Gretap links: the kernel's Ethernet over GRE.
	Gretap Feature = "gretap"
	// VLAN links (802.1Q): a macvlan parent such as eth1.10.
	VLAN Feature = "vlan"
	// Overlayfs: the root filesystems of containers (image layers).
	Overlayfs Feature = "overlayfs"
)

var probes sync.Map // Feature → func() error

// Supported says whether this kernel has f: nil if it has, else why not.
// Link kinds are tried for real, once per process, in a throwaway network
// namespace nobody else sees (the kernel loads a missing module when it
// can).
func Supported(f Feature) error {
	p, _ := probes.LoadOrStore(f, sync.OnceValue(func() error { return probeFeature(f) }))
	return p.(func() error)()
}

// RequireKernel skips t, saying why, unless the kernel has every feature.
func RequireKernel(t testing.TB, features ...Feature) {
	t.Helper()
	var why []string
	for _, f := range features {
		if err := Supported(f); err != nil {
			why = append(why, err.Error())
		}
	}
	if len(why) > 0 {
		t.Skipf("labtest: this kernel lacks what the test needs: %s", strings.Join(why, "; "))
	}
}

func probeFeature(f Feature) error {
	if f == Overlayfs {
		return overlayfs()
	}
	var link func(parent netlink.Link) netlink.Link
	switch f {
	case Macvlan:
		link = func(p netlink.Link) netlink.Link {
			return &netlink.Macvlan{LinkAttrs: childAttrs("probe0m", p), Mode: netlink.MACVLAN_MODE_BRIDGE}
		}
	case VLAN:
		link = func(p netlink.Link) netlink.Link {
			return &netlink.Vlan{LinkAttrs: childAttrs("probe0.10", p), VlanId: 10}
		}
	case VXLAN:
		link = func(netlink.Link) netlink.Link {
			return &netlink.Vxlan{LinkAttrs: named("probe0x"), VxlanId: 42, Port: 4789}
		}
	case Gretap:
		// Documentation addresses (RFC 5737), in a namespace with no
		// route: nothing could be sent.
		link = func(netlink.Link) netlink.Link {
			return &netlink.Gretap{LinkAttrs: named("probe0g"), Local: net.ParseIP("192.0.2.1"), Remote: net.ParseIP("192.0.2.2")}
		}
	default:
		return fmt.Errorf("no feature %q", f)
	}
	err := netns.DoFresh(func() error {
		h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
		if err != nil {
			return err
		}
		defer h.Close()
		if err := h.LinkAdd(&netlink.Veth{LinkAttrs: named("probe0"), PeerName: "probe1"}); err != nil {
			return fmt.Errorf("veth: %w", err)
		}
		parent, err := h.LinkByName("probe0")
		if err != nil {
			return err
		}
		return h.LinkAdd(link(parent))
	})
	if err != nil {
		return fmt.Errorf("no %s links: creating one in a scratch namespace: %w", f, err)
	}
	return nil
}

func named(name string) netlink.LinkAttrs {
	a := netlink.NewLinkAttrs()
	a.Name = name
	return a
}

func childAttrs(name string, parent netlink.Link) netlink.LinkAttrs {
	a := named(name)
	a.ParentIndex = parent.Attrs().Index
	return a
}

// overlayfs says whether the kernel has overlayfs or can load it.
func overlayfs() error {
	if b, err := os.ReadFile("/proc/filesystems"); err == nil && bytes.Contains(b, []byte("\toverlay\n")) {
		return nil
	}
	var u unix.Utsname
	if err := unix.Uname(&u); err == nil {
		release := unix.ByteSliceToString(u.Release[:])
		if m, _ := filepath.Glob("/lib/modules/" + release + "/kernel/fs/overlayfs/overlay.ko*"); len(m) > 0 {
			return nil
		}
	}
	return fmt.Errorf("no overlayfs: not in /proc/filesystems, and no module to load")
}

// cannotRun says why this machine cannot run the lab of topo with o, ""
// when it can.
func cannotRun(topo *lab.Topology, o lab.Options) string {
	if uid := os.Geteuid(); uid != 0 {
		return fmt.Sprintf("the lab needs root (its hosts are network namespaces); running as uid %d", uid)
	}
	var why []string
	for _, f := range needs(topo) {
		if err := Supported(f); err != nil {
			why = append(why, err.Error())
		}
	}
	if hasDocker(topo) && o.Runtime == lab.RuntimeDockerd {
		if _, err := lab.FindDockerd(o.Dockerd); err != nil {
			why = append(why, err.Error())
		}
	}
	for _, fw := range firewalls(topo) {
		if _, err := exec.LookPath(fw); err != nil {
			why = append(why, fmt.Sprintf("the daemons' firewall runs %s: %v", fw, err))
		}
	}
	if len(why) == 0 {
		return ""
	}
	return "this machine cannot run the lab: " + strings.Join(why, "; ")
}

// needs lists the kernel features the lab of topo needs: overlayfs for the
// containers' root filesystems (dockerd's overlay2, hostd's images), VXLAN
// for overlay networks through a cluster store.
func needs(topo *lab.Topology) []Feature {
	var fs []Feature
	if hasDocker(topo) {
		fs = append(fs, Overlayfs)
	}
	for _, h := range topo.Hosts {
		if h.ClusterStore != "" {
			return append(fs, VXLAN)
		}
	}
	return fs
}

func hasDocker(topo *lab.Topology) bool {
	for _, h := range topo.Hosts {
		if h.Kind == lab.KindDocker || h.Kind == "" {
			return true
		}
	}
	return false
}

// firewalls are the programs the docker hosts' firewalls run (iptables,
// the default, as Docker 20.10; nftables talks netlink).
func firewalls(topo *lab.Topology) []string {
	for _, h := range topo.Hosts {
		if (h.Kind == lab.KindDocker || h.Kind == "") && h.Firewall != "nftables" {
			return []string{"iptables"}
		}
	}
	return nil
}
