package kernel

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/nslab/nslab/netns"
)

// Mount is one line of the caller's mount table (/proc/self/mountinfo).
type Mount struct {
	// ID is the mount's id and Parent its parent's, which tell mounts
	// stacked on one point apart and which mount another is on.
	ID, Parent int
	// Point is where it is mounted, Root the part of its filesystem that
	// is mounted there ("/" for all of it).
	Point, Root string
	// FSType and Source are the filesystem type and what was mounted
	// (a device, "tmpfs", "nsfs"...).
	FSType, Source string
}

// Mounts reads the caller's mount table, paths unescaped, in the kernel's
// order (parents before the mounts on top of them).
func Mounts() ([]Mount, error) { return readMounts("/proc/self/mountinfo") }

// ThreadMounts reads the mount table of the calling thread, which may have
// entered another mount namespace (on a thread of package netns's).
func ThreadMounts() ([]Mount, error) { return readMounts("/proc/thread-self/mountinfo") }

func readMounts(path string) ([]Mount, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("mount table: %w", err)
	}
	var out []Mount
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		// id parent major:minor root point options [optional...] - type source super-options
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		m := Mount{Root: unescape(f[3]), Point: unescape(f[4])}
		m.ID, _ = strconv.Atoi(f[0])
		m.Parent, _ = strconv.Atoi(f[1])
		for i, x := range f {
			if x == "-" && i+2 < len(f) {
				m.FSType, m.Source = f[i+1], unescape(f[i+2])
				break
			}
		}
		out = append(out, m)
	}
	return out, nil
}

// unescape decodes the octal escapes (\040 for a space) of a mountinfo
// field.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// Pins lists the names of the namespaces pinned under /run/netns that
// start with prefix ("" for all), sorted. No /run/netns is no pins.
func Pins(prefix string) ([]string, error) {
	ents, err := os.ReadDir(netns.RunDir)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("namespace pins: %w", err)
	}
	var out []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), prefix) {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out, nil
}
