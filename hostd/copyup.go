package hostd

import (
	"fmt"
	"os"

	"github.com/nslab/nslab/hostd/mount"
	"golang.org/x/sys/unix"
)

// prepareMounts makes what the container's mounts need before the
// thread that starts it mounts them, as Docker does at start: a missing -v source directory on
// the machine (Docker creates it), and the first filling of an empty
// volume with what the container's root filesystem holds at the volume's
// destination (not with nocopy). Callers hold c.op.
func (d *Daemon) prepareMounts(c *Container) error {
	d.mu.Lock()
	mounts := c.mounts
	d.mu.Unlock()
	type fill struct {
		dst string
		fd  int
	}
	var fills []fill
	defer func() {
		for _, f := range fills {
			unix.Close(f.fd)
		}
	}()
	for _, m := range mounts {
		switch {
		case m.Type == "bind" && !mount.Exists(m.Source):
			if err := os.MkdirAll(m.Source, 0o755); err != nil {
				return fmt.Errorf("error while creating mount source path '%s': %w", m.Source, err)
			}
		case m.Type == "volume" && m.CopyData:
			// Opened here, on the machine: the copy runs where only the
			// container's files are visible.
			fd, err := unix.Open(m.Source, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
			if err != nil {
				return fmt.Errorf("volume %s: %w", m.Name, err)
			}
			if empty, _ := mount.DirEmpty(fd); !empty {
				unix.Close(fd)
				continue
			}
			fills = append(fills, fill{m.Destination, fd})
		}
	}
	if len(fills) == 0 {
		return nil
	}
	return d.inView(c, ViewRootfs, func() error {
		for _, f := range fills {
			var st unix.Stat_t
			if err := unix.Stat(f.dst, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
				continue // nothing to copy, as Docker
			}
			if err := mount.CopyTree(f.dst, f.fd); err != nil {
				return fmt.Errorf("copy %s into its volume: %w", f.dst, err)
			}
			// The volume's root takes the directory's owner and mode.
			unix.Fchown(f.fd, int(st.Uid), int(st.Gid))
			unix.Fchmod(f.fd, st.Mode&0o7777)
		}
		return nil
	})
}
