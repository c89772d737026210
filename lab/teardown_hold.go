package lab

import (
	"os"

	"golang.org/x/sys/unix"

	"github.com/nslab/nslab/netns"
)

// heldNamespaces keeps a file descriptor open on every namespace of a lab
// that a teardown has seen pinned. A namespace whose last pin and process
// go away is freed, and the kernel may give its inode number to the next
// namespace anyone makes; a teardown that kept only the number would then
// kill the processes of that stranger. An open descriptor keeps the
// namespace, and so the number, ours until the teardown ends.
type heldNamespaces struct {
	files map[uint64]*os.File
	pins  map[uint64]string
}

func newHeldNamespaces() *heldNamespaces {
	return &heldNamespaces{files: map[uint64]*os.File{}, pins: map[uint64]string{}}
}

// add holds every namespace pinned under lab id's prefix now. The
// machine's own namespace and this process's are never held: every process
// in them would be killed.
func (h *heldNamespaces) add(id string) {
	skip := map[uint64]bool{}
	for _, own := range []string{"/proc/1/ns/net", "/proc/self/ns/net"} {
		if ino, err := netns.Inode(own); err == nil {
			skip[ino] = true
		}
	}
	pins, _ := labPins(id)
	for _, p := range pins {
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		var st unix.Stat_t
		if unix.Fstat(int(f.Fd()), &st) != nil || skip[st.Ino] || h.files[st.Ino] != nil {
			f.Close()
			continue
		}
		h.files[st.Ino], h.pins[st.Ino] = f, p
	}
}

// inodes maps each held namespace's inode to the pin it was seen at.
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
