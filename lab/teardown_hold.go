package lab

import (
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/netns"
	"github.com/nslab/nslab/netns/kernel"
)

// heldNamespaces keeps a file descriptor open on every namespace of a lab
// that a teardown has seen pinned. A namespace whose last pin and process
// go away is freed, and the kernel may give its inode number to the next
// namespace anyone makes; a teardown that kept only the number would then
// kill the processes of that stranger. An open descriptor keeps the
// namespace, and so the number, ours until the teardown ends.
//
// A lab's namespaces are its network namespaces pinned under its prefix in
// /run/netns, its hosts' UTS and mount namespaces pinned in its state
// directory, and the network namespaces pinned inside those hosts' mount
// namespaces (a daemon's sandboxes under /var/run/docker/netns, what a
// student made with `ip netns add`), which the machine never sees.
type heldNamespaces struct {
	mu    sync.Mutex // guards the maps while hosts are searched at once
	files map[uint64]*os.File
	pins  map[uint64]string
	skip  map[uint64]bool
	kinds map[string]bool // of the namespaces held: "net", "uts", "mnt"
}

func newHeldNamespaces() *heldNamespaces {
	h := &heldNamespaces{files: map[uint64]*os.File{}, pins: map[uint64]string{}, skip: map[uint64]bool{}, kinds: map[string]bool{}}
	// The machine's own namespaces and this process's are never held:
	// every process in them would be killed.
	for _, pid := range []string{"1", "self"} {
		for _, kind := range []string{"net", "uts", "mnt"} {
			if ino, err := netns.Inode("/proc/" + pid + "/ns/" + kind); err == nil {
				h.skip[ino] = true
			}
		}
	}
	return h
}

// add holds every namespace of lab id (state directory dir) pinned now.
func (h *heldNamespaces) add(id, dir string) {
	pins, _ := labPins(id)
	for _, p := range pins {
		h.hold(p, p)
	}
	mnts, _ := filepath.Glob(filepath.Join(dir, nsDir, "*.mnt"))
	utss, _ := filepath.Glob(filepath.Join(dir, nsDir, "*.uts"))
	for _, p := range append(utss, mnts...) {
		h.hold(p, p)
	}
	// Each host's mount namespace is entered on a thread of its own; the
	// trips overlap.
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for _, m := range mnts {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			h.addInside(m)
		}()
	}
	wg.Wait()
}

// addInside holds the network namespaces pinned inside the mount
// namespace pinned at mnt, under its own /run (dockerd's sandboxes in
// /var/run/docker/netns, a student's ip netns add). The rest of a host's
// mount table is the machine's as it was when the host was made: the pins
// of other labs whose state lies outside /run (a test's temporary
// directory) are copied there too, and are not this lab's to kill.
func (h *heldNamespaces) addInside(mnt string) {
	netns.Namespaces{Mnt: mnt}.Do(func() error {
		mounts, err := kernel.ThreadMounts()
		if err != nil {
			return err
		}
		for _, m := range mounts {
			if m.FSType == "nsfs" && under(m.Point, "/run") {
				// Opened in the host's mount namespace, the descriptor
				// is the process's and stays valid after this thread.
				h.hold(m.Point, mnt+":"+m.Point)
			}
		}
		return nil
	})
}

// hold opens path and keeps it when it is a namespace not held yet (and
// not one of the machine's); seen names it in messages.
func (h *heldNamespaces) hold(path, seen string) {
	f, err := os.Open(path)
	if err != nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	var st unix.Stat_t
	if unix.Fstat(int(f.Fd()), &st) != nil || h.skip[st.Ino] || h.files[st.Ino] != nil {
		f.Close()
		return
	}
	nstype, err := unix.IoctlRetInt(int(f.Fd()), unix.NS_GET_NSTYPE)
	if err != nil {
		f.Close() // a pin file without a namespace mounted on it
		return
	}
	h.files[st.Ino], h.pins[st.Ino] = f, seen
	h.kinds[nsKindName[nstype]] = true
}

// nsKindName names the kinds of namespace a lab holds as /proc/PID/ns
// does, by their clone flag (NS_GET_NSTYPE's answer).
var nsKindName = map[int]string{unix.CLONE_NEWNET: "net", unix.CLONE_NEWUTS: "uts", unix.CLONE_NEWNS: "mnt"}

// scan lists every process that lives in one of the held namespaces. It
// looks only at the kinds held: a lab of plain hosts never used has no
// UTS or mount namespace, and each kind costs a path lookup per process
// of the machine.
func (h *heldNamespaces) scan() []proc {
	inodes := h.inodes()
	var kinds []string
	h.mu.Lock()
	for _, k := range nsKinds {
		if h.kinds[k] {
			kinds = append(kinds, k)
		}
	}
	h.mu.Unlock()
	if len(inodes) == 0 {
		return nil
	}
	return scanProcs(func(pid int) (proc, bool) { return insideKinds(pid, inodes, kinds) })
}

// inodes maps each held namespace's inode to the pin it was seen at. The
// kernel numbers namespaces of every kind from one pool, so one map serves
// network, UTS and mount namespaces alike.
func (h *heldNamespaces) inodes() map[uint64]string {
	m := make(map[uint64]string, len(h.pins))
	for k, v := range h.pins {
		m[k] = v
	}
	return m
}

func (h *heldNamespaces) close() {
	for _, f := range h.files {
		f.Close()
	}
}
