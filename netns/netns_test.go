package netns

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"testing"

	"github.com/vishvananda/netlink"
)

func needRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces")
	}
}

// newTestNS makes a namespace pinned as nsltest-<tag><pid> and returns its
// name and pin path; it is deleted when the test ends (deleting it twice is
// no error).
func newTestNS(t *testing.T, tag string) (name, path string) {
	t.Helper()
	needRoot(t)
	name = fmt.Sprintf("nsltest-%s%d", tag, os.Getpid())
	path, err := NewNamed(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { Delete(name) })
	return name, path
}

func TestNewNamedDoDelete(t *testing.T) {
	name, path := newTestNS(t, "")
	rootIno, _ := Inode("/proc/self/ns/net")
	ino, err := Inode(path)
	if err != nil || ino == rootIno {
		t.Fatalf("pinned namespace inode %d, root %d, err %v", ino, rootIno, err)
	}
	// A socket opened inside Do belongs to the namespace: its loopback
	// answers, and the caller's thread never left the root namespace.
	var ln net.Listener
	if err := Do(path, func() (err error) { ln, err = net.Listen("tcp", "127.0.0.1:0"); return }); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if after, _ := Inode("/proc/thread-self/ns/net"); after != rootIno {
		t.Fatalf("caller thread left the root namespace")
	}
	// Call hands back what fn made there: the thread's own namespace is
	// the pinned one.
	if in, err := Call(path, func() (uint64, error) { return Inode("/proc/thread-self/ns/net") }); err != nil || in != ino {
		t.Fatalf("Call: thread in namespace inode %d, want %d (err %v)", in, ino, err)
	}
	h, err := Handle(path)
	if err != nil {
		t.Fatal(err)
	}
	links, err := LinkList(h)
	h.Close()
	if err != nil || len(links) != 1 || links[0].Attrs().Name != "lo" || links[0].Attrs().Flags&net.FlagUp == 0 {
		t.Fatalf("want only lo, up; got %v err %v", links, err)
	}
	out, err := exec.Command("ip", "netns", "exec", name, "ip", "-o", "link").CombinedOutput()
	if err != nil {
		t.Fatalf("ip netns exec: %v: %s", err, out)
	}
	if err := Delete(name); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("pin still present: %v", err)
	}
	if err := Delete(name); err != nil {
		t.Fatalf("second delete must succeed: %v", err)
	}
	_ = netlink.LinkList
}

func TestStartIn(t *testing.T) {
	_, path := newTestNS(t, "s")
	cmd := exec.Command("sleep", "5")
	if err := StartIn(path, cmd); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	a, _ := Inode(path)
	b, _ := Inode(fmt.Sprintf("/proc/%d/ns/net", cmd.Process.Pid))
	if a != b {
		t.Fatalf("child in netns %d, want %d", b, a)
	}
}

// FindLink tells a missing link from a failed look-up; DeleteLink deletes
// a link of the namespace and takes one that is gone as deleted.
func TestFindDeleteLink(t *testing.T) {
	_, path := newTestNS(t, "fl")
	h, err := Handle(path)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if l, err := FindLink(h, "va"); l != nil || err != nil {
		t.Fatalf("FindLink of a missing link: %v, %v", l, err)
	}
	la := netlink.NewLinkAttrs()
	la.Name = "va"
	if err := h.LinkAdd(&netlink.Veth{LinkAttrs: la, PeerName: "vb"}); err != nil {
		t.Fatal(err)
	}
	if l, err := FindLink(h, "va"); err != nil || l == nil || l.Type() != "veth" {
		t.Fatalf("FindLink of va: %v, %v", l, err)
	}
	if err := DeleteLink(h, "va"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.LinkByName("vb"); err == nil {
		t.Error("vb outlived its peer's delete")
	}
	if err := DeleteLink(h, "va"); err != nil {
		t.Errorf("deleting a link gone already: %v", err)
	}
}
