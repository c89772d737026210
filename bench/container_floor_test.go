package bench

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/hostd/image"
	"github.com/nslab/nslab/hostd/mount"
	"github.com/nslab/nslab/hostd/rootfs"
	"github.com/nslab/nslab/hostd/rootfs/launch"
	"github.com/nslab/nslab/netns"
)

// ctrFloorHost is what the containers of containerFloor are made in and
// from: a network namespace with a bridge (a docker host's, with its
// gateway address), the default image's layers and an init layer, a
// directory on a tmpfs for each container's files, and the mount
// namespace every container's is a copy of.
type ctrFloorHost struct {
	ns     netns.Fresh
	bridge int
	layers []string
	dir    string
	tmpl   *mount.Template
	// none makes the containers those of the none network: no veth, their
	// namespace holds its loopback alone.
	none bool
}

// ctrFloorContainer is one container of containerFloor: its network
// namespace (which holds its veth) and its command.
type ctrFloorContainer struct {
	ns  netns.Fresh
	cmd *exec.Cmd
}

// defaultLayers are the default image's layer directories in the
// machine's image store, lowest first.
func defaultLayers(b *testing.B) []string {
	b.Helper()
	store, release, err := image.OpenShared(image.StoreDir())
	if err != nil {
		b.Fatal(err)
	}
	defer release()
	def, err := store.EnsureDefault(image.DefaultSource{})
	var img *image.Image
	if err == nil {
		img, err = store.Image(def.ID)
	}
	if err != nil {
		b.Fatal(err)
	}
	return img.Layers
}

func newCtrFloorHost(b *testing.B) *ctrFloorHost {
	b.Helper()
	h := &ctrFloorHost{}
	root, err := os.MkdirTemp(stateBase(), "nslab-bench-floor-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(root) })
	h.dir = root
	initLayer := filepath.Join(root, "init")
	if err := rootfs.InitLayer(initLayer); err != nil {
		b.Fatal(err)
	}
	h.layers = append(defaultLayers(b), initLayer)
	if h.tmpl, err = mount.NewTemplate(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(h.tmpl.Close)
	if h.ns, err = netns.NewFresh(nil); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { h.ns.Close() })
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "br0", Flags: net.FlagUp}}
	if err := h.ns.Handle.LinkAdd(br); err != nil {
		b.Fatal(err)
	}
	gw, _ := netlink.ParseAddr("172.30.0.1/16")
	if err := h.ns.Handle.AddrAdd(br, gw); err != nil {
		b.Fatal(err)
	}
	h.bridge = br.Index
	return h
}

// start makes container i as hostd makes a container on a user bridge,
// with nothing else, and with hostd's overlaps: a network namespace made
// ahead (IPv6 off, loopback up: ns, as hostd's pool makes them); a veth
// whose host end joins the bridge and whose other end, eth0, gets its
// address, comes up and routes by the gateway, made meanwhile on another
// goroutine; the container's files (hosts, resolv.conf, hostname) and
// overlay directories; from a thread in its namespaces, its root
// filesystem (rootfs.Spec.Build: overlay, /proc, /dev, /sys, the files
// bound, the masked and read-only paths, pivot) and, once the veth is
// there, `sleep 1000` forked as PID 1 of a new PID namespace.
func (h *ctrFloorHost) start(i int, ns netns.Fresh) (*ctrFloorContainer, error) {
	c := &ctrFloorContainer{ns: ns}
	wired := make(chan error, 1)
	if h.none {
		wired <- nil
	} else {
		go func() { wired <- h.wire(c, i) }()
	}
	spec, err := h.spec(i)
	if err != nil {
		<-wired
		c.ns.Close()
		return nil, err
	}
	fd, err := unix.Dup(c.ns.FD)
	if err != nil {
		<-wired
		c.ns.Close()
		return nil, err
	}
	nsf := os.NewFile(uintptr(fd), "netns")
	defer nsf.Close()
	waited := false
	cmd, err := launch.Start(launch.Container{NetNS: nsf, Spec: spec}, launch.Options{
		EnterMounts: h.tmpl.Enter,
		Ready:       func() error { waited = true; return <-wired },
	})
	if err != nil {
		if !waited {
			<-wired // the veth's goroutine is done with the namespace
		}
		c.ns.Close()
		return nil, err
	}
	c.cmd = cmd
	return c, nil
}

// namespacesAhead makes n network namespaces one after another on their
// own goroutine, each ready before it is asked for, as hostd's pool does.
func namespacesAhead(n int) <-chan netns.Fresh {
	ch := make(chan netns.Fresh, 1)
	go func() {
		defer close(ch)
		for i := 0; i < n; i++ {
			ns, err := netns.NewFresh(netns.DisableIPv6)
			if err != nil {
				return
			}
			ch <- ns
		}
	}()
	return ch
}

// wire makes container i's veth: eth0 in its namespace, addressed
// (172.30.x.y/16), up, with its default route.
func (h *ctrFloorHost) wire(c *ctrFloorContainer, i int) error {
	v := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: "veth" + strconv.Itoa(i), MasterIndex: h.bridge, Flags: net.FlagUp},
		PeerName:      "eth0",
		PeerNamespace: netlink.NsFd(c.ns.FD),
	}
	if err := h.ns.Handle.LinkAdd(v); err != nil {
		return err
	}
	eth0, err := c.ns.Handle.LinkByName("eth0")
	if err != nil {
		return err
	}
	addr, _ := netlink.ParseAddr(fmt.Sprintf("172.30.%d.%d/16", (i+2)/250, (i+2)%250+1))
	if err := c.ns.Handle.AddrAdd(eth0, addr); err != nil {
		return err
	}
	if err := c.ns.Handle.LinkSetUp(eth0); err != nil {
		return err
	}
	return c.ns.Handle.RouteAdd(&netlink.Route{LinkIndex: eth0.Attrs().Index, Gw: net.IPv4(172, 30, 0, 1)})
}

// spec is container i's files and directories, and what its thread
// builds and runs.
func (h *ctrFloorHost) spec(i int) (*rootfs.Spec, error) {
	dir := filepath.Join(h.dir, "c"+strconv.Itoa(i))
	for _, d := range []string{"upper", "work", "rootfs"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	name := fmt.Sprintf("c%011d", i)
	files := map[string]string{
		"hosts":       "127.0.0.1\tlocalhost\n172.30.0.2\t" + name + "\n",
		"resolv.conf": "nameserver 127.0.0.11\noptions ndots:0\n",
		"hostname":    name + "\n",
	}
	var mounts []rootfs.Mount
	for _, f := range []string{"hostname", "hosts", "resolv.conf"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(files[f]), 0o644); err != nil {
			return nil, err
		}
		mounts = append(mounts, rootfs.Mount{Kind: rootfs.Bind, Source: filepath.Join(dir, f), Target: "/etc/" + f})
	}
	return &rootfs.Spec{
		Root: filepath.Join(dir, "rootfs"), Layers: h.layers,
		Upper: filepath.Join(dir, "upper"), Work: filepath.Join(dir, "work"),
		Hostname: name, Mounts: mounts,
		MaskedPaths: rootfs.DefaultMaskedPaths, ReadonlyPaths: rootfs.DefaultReadonlyPaths,
		Process: rootfs.Process{
			Args: []string{"sleep", "1000"}, Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
			Cwd: "/", Caps: rootfs.DefaultCapabilities,
		},
	}, nil
}

// check says what is wrong with a container started: its command is not
// `sleep 1000` in a root of its own, or its eth0 is not up with an
// address (none: its namespace has more than its loopback, up).
func (c *ctrFloorContainer) check(none bool) error {
	pid := strconv.Itoa(c.cmd.Process.Pid)
	cmdline, err := os.ReadFile("/proc/" + pid + "/cmdline")
	if err != nil || string(cmdline) != "sleep\x001000\x00" {
		return fmt.Errorf("container's command: %q, %v", cmdline, err)
	}
	if _, err := os.Stat("/proc/" + pid + "/root/.dockerenv"); err != nil {
		return fmt.Errorf("container's root: %w", err)
	}
	if none {
		links, err := c.ns.Handle.LinkList()
		if err != nil || len(links) != 1 || links[0].Attrs().Name != "lo" || links[0].Attrs().Flags&net.FlagUp == 0 {
			return fmt.Errorf("none container's links: %v, %v", links, err)
		}
		return nil
	}
	eth0, err := c.ns.Handle.LinkByName("eth0")
	if err != nil {
		return err
	}
	addrs, err := c.ns.Handle.AddrList(eth0, netlink.FAMILY_V4)
	if err != nil || len(addrs) != 1 || eth0.Attrs().Flags&net.FlagUp == 0 {
		return fmt.Errorf("container's eth0: %v, addresses %v, %v", eth0.Attrs().Flags, addrs, err)
	}
	return nil
}

// stop kills the container's command and lets go of its namespace (the
// kernel deletes the veth with it).
func (c *ctrFloorContainer) stop() {
	c.cmd.Process.Signal(syscall.SIGKILL)
	c.cmd.Wait()
	c.ns.Close()
}

// containerFloor starts n containers one after another, as
// BenchmarkRunOnBridge's client does through hostd, b.N times, and
// returns the rate: what the kernel's work for such a container allows
// on this machine with no daemon around it.
func containerFloor(b *testing.B, n int) float64 {
	b.Helper()
	h := newCtrFloorHost(b)
	var total time.Duration
	for round := 0; round < b.N; round++ {
		settle(b)
		cs := make([]*ctrFloorContainer, 0, n)
		ahead := namespacesAhead(n)
		start := time.Now()
		for i := 0; i < n; i++ {
			ns, ok := <-ahead
			if !ok {
				b.Fatal("no network namespace made")
			}
			c, err := h.start(round*n+i, ns)
			if err != nil {
				b.Fatal(err)
			}
			cs = append(cs, c)
		}
		total += time.Since(start)
		b.StopTimer()
		if err := cs[n-1].check(h.none); err != nil {
			b.Fatal(err)
		}
		for _, c := range cs {
			c.stop()
		}
		b.StartTimer()
	}
	return float64(n*b.N) / total.Seconds()
}
