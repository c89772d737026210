package image

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// BusyboxPath is Debian's busybox-static binary, statically linked: the
// whole of the default image.
const BusyboxPath = "/bin/busybox"

// DefaultTags name the default image: the images the exercises run.
var DefaultTags = []string{"alpine:latest", "busybox:latest"}

// DefaultPath is the PATH of the default image, Docker's default PATH.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// DefaultSource is what the default image is built from.
type DefaultSource struct {
	// Busybox is the busybox binary; "" is BusyboxPath.
	Busybox string
	// Output runs a command and returns its standard output (hostd runs
	// its children through its reaper); nil is exec.Cmd.Output.
	Output func(*exec.Cmd) ([]byte, error)
}

// Built is an image made in memory: its config blob and its one layer.
type Built struct {
	ID     string
	DiffID string
	Config []byte
	Layer  []byte
}

var busyboxVersion = regexp.MustCompile(`^BusyBox v([0-9][^ ]*) (\(([^)]*)\))?`)

// BuildDefault builds nslab's default image, alpine-like and deterministic:
// the same busybox gives the same bytes, hence the same image ID, on every
// machine and every run. Its one layer holds /bin/busybox, the applets as
// symlinks where `busybox --list-full` puts them, /etc/passwd and
// /etc/group with root and nobody, /etc/os-release saying what it is,
// /root, /tmp (1777), /home, /var and the mount points; every time is the
// binary's modification time.
func BuildDefault(src DefaultSource) (*Built, error) {
	if src.Busybox == "" {
		src.Busybox = BusyboxPath
	}
	if src.Output == nil {
		src.Output = func(c *exec.Cmd) ([]byte, error) { return c.Output() }
	}
	bin, err := os.ReadFile(src.Busybox)
	if err != nil {
		return nil, fmt.Errorf("default image: %w (install Debian's busybox-static)", err)
	}
	st, err := os.Stat(src.Busybox)
	if err != nil {
		return nil, fmt.Errorf("default image: %w", err)
	}
	created := st.ModTime().UTC().Truncate(time.Second)
	list, err := src.Output(exec.Command(src.Busybox, "--list-full"))
	if err != nil {
		return nil, fmt.Errorf("default image: %s --list-full: %w", src.Busybox, err)
	}
	help, err := src.Output(exec.Command(src.Busybox, "--help"))
	if err != nil {
		return nil, fmt.Errorf("default image: %s --help: %w", src.Busybox, err)
	}
	m := busyboxVersion.FindSubmatch(help)
	if m == nil {
		return nil, fmt.Errorf("default image: %s is not busybox: %q", src.Busybox, firstLine(help))
	}
	version, build := string(m[1]), string(m[3])
	layer, err := defaultLayer(bin, strings.Fields(string(list)), osRelease(version, build), created)
	if err != nil {
		return nil, fmt.Errorf("default image: %w", err)
	}
	b := &Built{DiffID: Digest(layer), Layer: layer}
	b.Config, err = defaultConfig(b.DiffID, version, created)
	if err != nil {
		return nil, fmt.Errorf("default image: %w", err)
	}
	b.ID = Digest(b.Config)
	return b, nil
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(string(b), "\n")
	return s
}

func osRelease(version, build string) []byte {
	return fmt.Appendf(nil, `# nslab's default image, tagged alpine:latest and busybox:latest (the names
# the exercises type): Debian's busybox-static and its applets, not Alpine Linux.
NAME="nslab busybox"
ID=nslab-busybox
VERSION_ID=%s
PRETTY_NAME="nslab busybox image (BusyBox v%s, Debian %s)"
`, version, version, build)
}

// defaultLayer is the layer's tar: entries sorted, parents first, owned by
// root, all at one time.
func defaultLayer(busybox []byte, applets []string, osrel []byte, t time.Time) ([]byte, error) {
	type file struct {
		mode int64
		data []byte
		link string
		dir  bool
	}
	files := map[string]file{
		"bin/busybox":    {mode: 0o755, data: busybox},
		"etc/passwd":     {mode: 0o644, data: []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n")},
		"etc/group":      {mode: 0o644, data: []byte("root:x:0:root\nnogroup:x:65534:\nnobody:x:65534:\n")},
		"etc/os-release": {mode: 0o644, data: osrel},
	}
	for _, d := range []string{"bin", "dev", "etc", "home", "proc", "sbin", "sys", "usr", "usr/bin", "usr/sbin", "var"} {
		files[d] = file{mode: 0o755, dir: true}
	}
	files["root"] = file{mode: 0o700, dir: true}
	files["tmp"] = file{mode: 0o1777, dir: true}
	for _, a := range applets {
		a = strings.Trim(a, "/")
		if a == "" || a == "bin/busybox" || strings.Contains(a, "..") {
			continue
		}
		if _, ok := files[a]; !ok {
			files[a] = file{mode: 0o777, link: "/bin/busybox"}
		}
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return walkLess(names[i], names[j]) })
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, n := range names {
		f := files[n]
		hdr := &tar.Header{Name: n, Mode: f.mode, ModTime: t, Typeflag: tar.TypeReg, Size: int64(len(f.data)), Format: tar.FormatUSTAR}
		switch {
		case f.dir:
			hdr.Name, hdr.Typeflag, hdr.Size = n+"/", tar.TypeDir, 0
		case f.link != "":
			hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeSymlink, f.link, 0
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("%s: %w", n, err)
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// defaultConfig is the image's config blob, its top-level keys sorted as
// Docker writes them.
func defaultConfig(diffID, version string, created time.Time) ([]byte, error) {
	return json.Marshal(map[string]any{
		"architecture": runtime.GOARCH,
		"config": ContainerConfig{
			Env: []string{"PATH=" + DefaultPath},
			Cmd: StrSlice{"/bin/sh"},
		},
		"created": created,
		"history": []History{{
			Created:   created,
			CreatedBy: "nslab: Debian busybox-static " + version + ": /bin/busybox, its applets as symlinks, /etc/passwd, /etc/group, /etc/os-release",
			Comment:   "nslab's default image, not Alpine Linux",
		}},
		"os":     "linux",
		"rootfs": RootFS{Type: "layers", DiffIDs: []string{diffID}},
	})
}

// EnsureDefault puts the default image into the store (its layer only
// when the store lacks it) and returns it with DefaultTags. Building it
// reads the 2 MB binary, runs it twice and hashes its layer (about 10 ms,
// at every lab's up): the store remembers, for each program that built it
// (defaultRecord), which image the binary gave, and that image, still
// whole in the store, is the answer while the binary and the program are
// the same files, unchanged. Records are kept per program, as nslab, each
// hostd started alone and the test binaries share one store: one record
// would send each to build again after the other.
func (s *Store) EnsureDefault(src DefaultSource) (Loaded, error) {
	if src.Busybox == "" {
		src.Busybox = BusyboxPath
	}
	key, known := buildKey(src.Busybox)
	if known {
		if id, ok := s.builtFrom(key); ok {
			return Loaded{ID: id, Tags: append([]string{}, DefaultTags...)}, nil
		}
	}
	b, err := BuildDefault(src)
	if err != nil {
		return Loaded{}, err
	}
	if !s.HasLayer(b.DiffID) {
		if _, err := s.AddLayer(bytes.NewReader(b.Layer), b.DiffID); err != nil {
			return Loaded{}, fmt.Errorf("default image: %w", err)
		}
	}
	id, err := s.AddConfig(b.Config)
	if err != nil {
		return Loaded{}, fmt.Errorf("default image: %w", err)
	}
	if known {
		s.recordBuild(key, id)
	}
	return Loaded{ID: id, Tags: append([]string{}, DefaultTags...)}, nil
}

// defaultRecord is one entry of <store>/default.json: the busybox file
// the default image was last built from and the program that built it, as
// stat(2) saw them, and the image it gave. A rewritten or replaced file
// changes its inode, size or times: another busybox, or another build of
// the code that lays the image out, builds it again.
type defaultRecord struct {
	Source  defaultSource `json:"source"`
	Builder defaultSource `json:"builder"`
	ID      string        `json:"id"`
}

type defaultSource struct {
	Path    string `json:"path"`
	Dev     uint64 `json:"dev"`
	Ino     uint64 `json:"ino"`
	Size    int64  `json:"size"`
	MtimeNs int64  `json:"mtime_ns"`
	CtimeNs int64  `json:"ctime_ns"`
}

// buildKey is what a build of the default image from busybox depends on:
// that file and this program; known is false when either cannot be told.
func buildKey(busybox string) (key defaultRecord, known bool) {
	exe, err := os.Executable()
	if err != nil {
		return key, false
	}
	var errB, errS error
	key.Builder, errB = sourceOf(exe)
	key.Source, errS = sourceOf(busybox)
	return key, errB == nil && errS == nil
}

func sourceOf(path string) (defaultSource, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return defaultSource{}, &fs.PathError{Op: "stat", Path: path, Err: err}
	}
	return defaultSource{Path: path, Dev: st.Dev, Ino: st.Ino, Size: st.Size,
		MtimeNs: st.Mtim.Nano(), CtimeNs: st.Ctim.Nano()}, nil
}

func (s *Store) defaultRecordPath() string { return filepath.Join(s.dir, "default.json") }

// maxDefaultRecords bounds default.json: the programs that last built the
// default image (nslab, hostd, the test binaries of a run).
const maxDefaultRecords = 32

// builtFrom returns the image a record names when it was built from the
// same files (key) and the store still holds it whole.
func (s *Store) builtFrom(key defaultRecord) (string, bool) {
	for _, r := range s.defaultRecords() {
		if r.Source != key.Source || r.Builder != key.Builder {
			continue
		}
		if _, err := s.Image(r.ID); err != nil {
			return "", false
		}
		return r.ID, true
	}
	return "", false
}

// defaultRecords reads default.json; a missing or unreadable file (an
// older store's single record) is no record.
func (s *Store) defaultRecords() []defaultRecord {
	raw, err := os.ReadFile(s.defaultRecordPath())
	if err != nil {
		return nil
	}
	var rs []defaultRecord
	if json.Unmarshal(raw, &rs) != nil {
		return nil
	}
	return rs
}

// recordBuild keeps what builtFrom reads, in place of the program's
// earlier record; a record that cannot be written costs the next up a
// build, nothing else. Two programs recording at once may lose one's
// record, which costs that one a build.
func (s *Store) recordBuild(key defaultRecord, id string) {
	key.ID = id
	rs := []defaultRecord{key}
	for _, r := range s.defaultRecords() {
		if r.Builder.Path != key.Builder.Path && len(rs) < maxDefaultRecords {
			rs = append(rs, r)
		}
	}
	if raw, err := json.Marshal(rs); err == nil {
		writeFile(s.defaultRecordPath(), raw)
	}
}
